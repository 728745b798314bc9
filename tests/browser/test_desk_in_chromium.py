"""The arbitration desk in a real browser: a ruling made by choosing units by name, and a
unit's clerk kept to their own unit's disputes."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import Server, shoot, sign_in


def api(page: Page, server: Server, method: str, path: str, body: Any = None) -> Any:
    response = page.request.fetch(server.url + path, method=method, data=body, headers={
        "Authorization": f"Bearer {server.admin_key}"})
    assert response.ok, response.text()
    return response.json()


def test_an_arbiter_rules_by_name_and_the_next_ticket_of_the_kind_goes_to_the_new_lead(
        page: Page, server: Server) -> None:
    sign_in(page, server, "wangmin")
    page.goto(server.url + "/disputes?overdue=1")
    page.locator('a[href^="/disputes/DSP-"]').first.click()
    expect(page.get_by_text("已超期").first).to_be_visible()
    expect(page.get_by_role("heading", name="原派单说明")).to_be_visible()
    shoot(page, "dispute", docs=True)
    page.get_by_role("button", name="认领").click()
    expect(page.get_by_role("status")).to_contain_text("已认领")

    lead = page.get_by_label("主办单位", exact=True)
    lead.press_sequentially("卫生健康", delay=30)
    expect(page.get_by_role("option", name="区卫生健康委员会")).to_be_visible()
    lead.press("ArrowDown")
    lead.press("Enter")
    expect(lead).to_have_value("区卫生健康委员会（D-WJ）")
    co = page.get_by_label("协办单位", exact=True)
    co.press_sequentially("属地", delay=30)
    expect(page.get_by_role("option", name="属地街乡")).to_be_visible()
    co.press("ArrowDown")
    co.press("Enter")
    expect(page.get_by_role("list", name="已选协办单位")).to_contain_text("属地街乡")
    page.get_by_label("裁定理由").fill("经会商，夜间施工噪声由区卫生健康委员会牵头，属地配合")
    page.locator("#basis").fill("示范区夜间施工噪声专题会商纪要")
    page.get_by_label("文号").fill("示政办裁〔2026〕8号")
    page.get_by_role("button", name="预览影响").click()
    expect(page.get_by_role("region", name="预览影响")).to_contain_text("将改派的在办工单")
    shoot(page, "ruling-preview", docs=True)
    page.get_by_role("button", name="确认裁定").click()
    expect(page.get_by_role("status")).to_contain_text("裁定已生效")
    shoot(page, "ruling-result", docs=True)

    dispute_id = (
        page.get_by_role("definition").get_by_role("link", name="DSP-").inner_text())
    dispute = api(page, server, "GET", f"/v1/disputes/{dispute_id}")
    routed = api(page, server, "POST", "/v1/route", {
        "category": dispute["category"], "area": dispute["area"], "text": "夜里工地施工太吵"})
    assert routed["lead"]["code"] == "D-WJ"


def test_a_unit_clerk_sees_neither_another_units_dispute_nor_its_page(
        page: Page, server: Server) -> None:
    disputes = api(page, server, "GET", "/v1/disputes?limit=200")["disputes"]
    others = [d["id"] for d in disputes
              if "D-WJ" not in [p["code"] for p in d["parties"]]]
    assert others
    sign_in(page, server, "weijian")
    page.goto(server.url + "/disputes")
    for dispute_id in others:
        expect(page.get_by_role("link", name=dispute_id)).to_have_count(0)
    response = page.goto(f"{server.url}/disputes/{others[0]}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="原派单说明")).to_have_count(0)
