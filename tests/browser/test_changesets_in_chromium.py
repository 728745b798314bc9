"""变更审核 in a real browser: an editor moves a leaf to another department from the rule's
page, sees the draft's impact and findings and cannot approve it alone; a second editor
approves; routing follows at once, and the impact shown matched what changed."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import APIRequestContext, Page, expect
from sqlalchemy import select

from rules.tables import decisions
from tests.browser.conftest import Server, shoot, sign_in

#: 共享单车乱停放 (030807), led by the transport bureau; the demo routed two tickets by it
RULE = "R-030807-01"


def api_get(request: APIRequestContext, server: Server, path: str, **params: Any) -> Any:
    answer = request.get(server.url + path, params=params,
                         headers={"Authorization": f"Bearer {server.admin_key}"})
    assert answer.ok, answer.text()
    return answer.json()


def lead_now(request: APIRequestContext, server: Server) -> str:
    answer = request.post(server.url + "/v1/route",
                          headers={"Authorization": f"Bearer {server.admin_key}"},
                          data={"category": "030807", "area": "110199004001"})
    assert answer.ok, answer.text()
    return str(answer.json()["lead"]["code"])


def replayed(request: APIRequestContext, server: Server, decision_id: str, version: int) -> Any:
    got = api_get(request, server, f"/v1/decisions/{decision_id}/replay",
                  version=version)["replayed"]
    return (got["status"], got["lead"], got["co_handlers"], (got.get("rule") or {}).get("id"))


def test_an_editor_moves_a_leaf_and_a_second_editor_publishes_it(
        page: Page, server: Server) -> None:
    version = api_get(page.request, server, "/v1/ruleset")["version"]
    sign_in(page, server, "zhoubian")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="派单目录").click()
    page.goto(server.url + f"/catalogue/rules/{RULE}")
    page.get_by_role("link", name="修改此规则").click()
    expect(page.get_by_role("heading", name=f"修改规则 {RULE}")).to_be_visible()
    expect(page.get_by_label("主办单位", exact=True)).to_have_value("区交通局（D-JT）")
    page.get_by_label("变更标题").fill("共享单车乱停放改由区城管执法局主办")
    page.get_by_label("主办单位", exact=True).fill("区城市管理综合行政执法局")
    page.get_by_role("button", name="保存为变更草稿").click()

    expect(page.get_by_role("status")).to_contain_text("已保存为变更草稿")
    expect(page.get_by_role("heading", name="与现行派单目录的差异")).to_be_visible()
    diff = page.locator("article.cs-diff")
    expect(diff).to_contain_text("修改")
    expect(diff.locator("del")).to_have_text("区交通局")
    expect(diff.locator("ins")).to_have_text("区城市管理综合行政执法局")
    expect(page.get_by_role("heading", name="目录检查（按变更后的目录）")).to_be_visible()
    count = int(page.locator(".cs-count").inner_text())
    assert count == 2
    expect(page.locator("table.cs-impact")).to_contain_text("区城市管理综合行政执法局")
    expect(page.get_by_text("须由另一位编辑审核（四眼原则）")).to_be_visible()
    expect(page.get_by_role("button", name="批准发布")).to_have_count(0)
    shoot(page, "changeset-draft", docs=True)
    with server.app.state.services.db.connect() as conn:
        decided = [r.id for r in conn.execute(select(decisions.c.id))]
    assert lead_now(page.request, server) == "D-JT"  # the draft routes nothing

    page.get_by_role("button", name="退出登录").click()
    sign_in(page, server, "sunshen")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="变更审核").click()
    expect(page.get_by_role("heading", name="变更审核")).to_be_visible()
    page.get_by_role("link", name="共享单车乱停放改由区城管执法局主办").click()
    expect(page.get_by_text("须由另一位编辑审核")).to_have_count(0)
    page.get_by_role("button", name="批准发布").click()

    expect(page.get_by_role("status")).to_contain_text(f"规则集第 {version + 1} 版已生效")
    expect(page.get_by_role("link", name=RULE).first).to_be_visible()
    shoot(page, "changeset-approved")
    assert lead_now(page.request, server) == "D-CZ"
    moved = [d for d in decided if replayed(page.request, server, d, version)
             != replayed(page.request, server, d, version + 1)]
    assert len(moved) == count

    page.get_by_role("link", name=RULE).first.click()
    expect(page.locator("dl.fields")).to_contain_text("区城市管理综合行政执法局")


def test_a_lead_that_names_no_unit_is_refused_beside_the_field(
        page: Page, server: Server) -> None:
    sign_in(page, server, "zhoubian")
    page.goto(server.url + f"/catalogue/rules/{RULE}/change")
    page.get_by_label("变更标题").fill("试填一个不存在的单位")
    page.get_by_label("主办单位", exact=True).fill("区不存在管理局")
    page.get_by_role("button", name="保存为变更草稿").click()
    lead = page.get_by_label("主办单位", exact=True)
    expect(lead).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#cs-lead-error")).to_contain_text("找不到名称或代码为“区不存在管理局”的单位")
    assert re.search(r"/catalogue/rules/.+/change$", page.url)
    shoot(page, "changeset-refused")
