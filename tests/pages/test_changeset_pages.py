"""变更审核 in the pages: a catalogue change drafted from a rule's page is a change set that
routes nothing until a second editor approves it; the page shows its diff, findings and
impact; a refusal stands beside the field it concerns and writes nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.auth import create_key
from arbitration.tables import change_sets
from rules.dutylist import write_duty_list
from rules.tables import decisions
from tests.pages.conftest import Workbench, csrf_of

#: 共享单车乱停放 (030807) is led by the transport bureau; the demo routed two tickets by it
RULE = "R-030807-01"
CATEGORY = "030807"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def admin_api(workbench: Workbench) -> TestClient:
    services = workbench.app.state.services  # type: ignore[attr-defined]
    with services.db.begin() as conn:
        key = create_key(conn, role="admin", name="page tests", unit=None,
                         now=workbench.clock())
    client = workbench.browser()
    client.headers["Authorization"] = f"Bearer {key}"
    return client


def lead_of(api: TestClient, category: str = CATEGORY, area: str = "110199004001") -> str:
    answer = api.post("/v1/route", json={"category": category, "area": area})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["lead"]["code"])


def stored_change_sets(workbench: Workbench) -> int:
    services = workbench.app.state.services  # type: ignore[attr-defined]
    with services.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(change_sets)).scalar_one())


def edit_form(client: TestClient, rule_id: str = RULE) -> dict[str, str]:
    """The 修改此规则 form as the page fills it in."""
    page = client.get(f"/catalogue/rules/{rule_id}/change")
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'<input id="cs-\w+" name="(\w+)" type="(?:text|number|date)" '
                             r'value="([^"]*)"', page.text))
    fields.update(re.findall(r'<textarea id="cs-\w+" name="(\w+)"[^>]*>([^<]*)</textarea>',
                             page.text))
    fields.update(re.findall(r'<input type="hidden" name="(\w+_code)" value="([^"]*)"',
                             page.text))
    fields["csrf_token"] = csrf_of(page.text)
    return fields


def draft_move(client: TestClient, **changes: str) -> Any:
    form = edit_form(client)
    form.update({"title": "共享单车乱停放改由区城管执法局主办", "lead": "区城市管理综合行政执法局",
                 **changes})
    return client.post(f"/catalogue/rules/{RULE}/change", data=form)


def field_error(html: str, name: str) -> str:
    found = re.search(rf'id="cs-{name}-error" role="alert">([^<]+)<', html)
    assert found, f"no message beside {name}"
    return found.group(1)


def test_an_editor_drafts_a_move_that_a_second_editor_publishes_and_routing_follows(
        workbench: Workbench) -> None:
    api = admin_api(workbench)
    author = workbench.signed_in("zhoubian")
    rule_page = author.get(f"/catalogue/rules/{RULE}")
    assert "修改此规则" in rule_page.text and "废止此规则" in rule_page.text
    version = api.get("/v1/ruleset").json()["version"]

    drafted = draft_move(author)
    assert drafted.status_code == 303, drafted.text
    where = drafted.headers["location"]
    change_set_id = where.split("/")[2].split("?")[0]
    decided_before = decision_ids(workbench)
    page = author.get(where).text
    assert "已保存为变更草稿" in page
    assert "修改" in page
    assert "<del>区交通局</del>" in page and "<ins>区城市管理综合行政执法局</ins>" in page
    assert "目录检查（按变更后的目录）" in page
    count = int(re.search(r'class="cs-count">(\d+)<', page).group(1))  # type: ignore[union-attr]
    assert count == 2
    assert "DEMO-20261117-0004" in page
    assert "须由另一位编辑审核（四眼原则）" in page
    assert f'<a href="/changesets/{change_set_id}">' in author.get(f"/catalogue/rules/{RULE}").text
    assert "批准发布</button>" not in page
    assert lead_of(api) == "D-JT"  # a draft routes nothing

    forged = author.post(f"/changesets/{change_set_id}/approve",
                         data={"csrf_token": csrf_of(page)})
    assert forged.status_code == 403
    assert "变更须由起草人以外的另一人审核发布（四眼原则）" in forged.text
    assert api.get("/v1/ruleset").json()["version"] == version
    assert lead_of(api) == "D-JT"

    reviewer = workbench.signed_in("sunshen")
    review = reviewer.get(f"/changesets/{change_set_id}").text
    assert "批准发布</button>" in review and "须由另一位编辑审核" not in review
    approved = reviewer.post(f"/changesets/{change_set_id}/approve",
                             data={"csrf_token": csrf_of(review)})
    assert approved.status_code == 303, approved.text
    done = reviewer.get(approved.headers["location"]).text
    assert f"规则集第 {version + 1} 版已生效" in done
    assert f'<a href="/catalogue/rules/{RULE}">{RULE}</a>' in done
    assert lead_of(api) == "D-CZ"

    # the decisions the change set moved: their replay under the version before it and
    # under the one it published differ (the demo's own ruling moved others earlier)
    moved = [d for d in decided_before
             if replayed(api, d, version) != replayed(api, d, version + 1)]
    assert len(moved) == count
    listed = reviewer.get("/changesets?status=published").text
    assert change_set_id in listed and "共享单车乱停放改由区城管执法局主办" in listed


def replayed(api: TestClient, decision_id: str, version: int) -> Any:
    answer = api.get(f"/v1/decisions/{decision_id}/replay", params={"version": version})
    assert answer.status_code == 200, answer.text
    got = answer.json()["replayed"]
    return (got["status"], got["lead"], got["co_handlers"], (got.get("rule") or {}).get("id"))


def decision_ids(workbench: Workbench) -> list[str]:
    services = workbench.app.state.services  # type: ignore[attr-defined]
    with services.db.connect() as conn:
        return [r.id for r in conn.execute(select(decisions.c.id))]


def test_a_rejected_change_set_stays_on_record_with_its_reason(workbench: Workbench) -> None:
    author = workbench.signed_in("zhoubian")
    where = draft_move(author).headers["location"]
    change_set_id = where.split("/")[2].split("?")[0]
    reviewer = workbench.signed_in("sunshen")
    page = reviewer.get(where).text
    blank = reviewer.post(f"/changesets/{change_set_id}/reject",
                          data={"csrf_token": csrf_of(page), "reason": " "})
    assert blank.status_code == 422
    assert field_error(blank.text, "reason") == "请填写退回理由。"
    rejected = reviewer.post(f"/changesets/{change_set_id}/reject",
                             data={"csrf_token": csrf_of(page), "reason": "应先征求区城管委意见"})
    assert rejected.status_code == 303
    kept = reviewer.get(f"/changesets/{change_set_id}").text
    assert "已退回" in kept and "退回理由：应先征求区城管委意见" in kept
    assert "批准发布</button>" not in kept
    assert change_set_id in reviewer.get("/changesets?status=rejected").text
    assert change_set_id not in reviewer.get("/changesets?status=draft").text


#: a field typed wrong → the field the message stands beside, and (part of) the message
BAD_INPUT = [
    ({"lead": "区不存在管理局"}, "lead", "找不到名称或代码为“区不存在管理局”的单位"),
    ({"lead": ""}, "lead", "请填写主办单位"),
    ({"co_handlers": "区城市管理委员会、外星办"}, "co_handlers", "“外星办”的单位"),
    ({"title": ""}, "title", "请填写变更标题"),
    ({"basis": ""}, "basis", "「依据」为必填项"),
    ({"priority": "高"}, "priority", "优先级应为整数"),
    ({"category": "没有这个分类"}, "category", "没有名为「没有这个分类」的事项分类"),
    ({"area": "火星街道"}, "area", "没有名为「火星街道」的区域"),
    ({"when": "只有属性没有值"}, "when", "每行写一条"),
    ({"valid_from": "2027-02-01", "valid_to": "2027-01-01"}, "valid_to", "失效"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_INPUT,
                         ids=[c[1] + ":" + "|".join(c[0].values()) for c in BAD_INPUT])
def test_bad_input_is_refused_beside_its_field_and_nothing_is_drafted(
        workbench: Workbench, changes: dict[str, str], field: str, message: str) -> None:
    author = workbench.signed_in("zhoubian")
    refused = draft_move(author, **changes)
    assert refused.status_code == 422, refused.text
    assert message in field_error(refused.text, field)
    assert stored_change_sets(workbench) == 0


def test_a_new_rule_on_a_leaf_and_a_retirement_are_drafts_too(workbench: Workbench) -> None:
    author = workbench.signed_in("zhoubian")
    leaf = author.get(f"/catalogue/categories/{CATEGORY}").text
    assert f'href="/catalogue/categories/{CATEGORY}/new-rule">新增规则' in leaf
    form = author.get(f"/catalogue/categories/{CATEGORY}/new-rule").text
    assert 'value="R-030807-03"' in form
    taken = author.post(f"/catalogue/categories/{CATEGORY}/new-rule", data={
        "csrf_token": csrf_of(form), "title": "公路上的共享单车由公路分局主办",
        "rule_id": RULE, "category": CATEGORY, "lead": "D-GL", "basis": "公路法"})
    assert taken.status_code == 422
    assert "已在使用" in field_error(taken.text, "rule_id")
    added = author.post(f"/catalogue/categories/{CATEGORY}/new-rule", data={
        "csrf_token": csrf_of(form), "title": "公路上的共享单车由公路分局主办",
        "rule_id": "R-030807-03", "category": CATEGORY, "lead": "示范区公路分局（D-GL）",
        "when": "road_type=highway", "basis": "《公路法》第八条", "priority": "0"})
    assert added.status_code == 303, added.text
    page = author.get(added.headers["location"]).text
    assert "新增" in page and "示范区公路分局" in page and "road_type 为 highway" in page

    tie = author.post(f"/catalogue/categories/{CATEGORY}/new-rule", data={
        "csrf_token": csrf_of(form), "title": "公路分局也主办共享单车乱停放",
        "rule_id": "R-030807-04", "category": CATEGORY, "lead": "D-GL",
        "basis": "《公路法》第八条", "valid_from": "2025-11-01"})
    assert tie.status_code == 303, tie.text
    page = author.get(tie.headers["location"]).text
    new = re.search(r'class="cs-new-findings">(\d+)<', page)
    assert new is not None and int(new.group(1)) >= 1, page
    assert '<span class="badge bad">新</span></td>' in page
    assert "规则重叠（同一工单有多个主办单位）" in page

    retire = author.get(f"/catalogue/rules/{RULE}/retire").text
    untitled = author.post(f"/catalogue/rules/{RULE}/retire",
                           data={"csrf_token": csrf_of(retire), "title": ""})
    assert untitled.status_code == 422 and field_error(untitled.text, "title")
    retired = author.post(f"/catalogue/rules/{RULE}/retire",
                          data={"csrf_token": csrf_of(retire), "title": "共享单车乱停放不再单列"})
    assert retired.status_code == 303
    assert "废止" in author.get(retired.headers["location"]).text
    assert stored_change_sets(workbench) == 3


def test_only_editors_are_offered_the_catalogue_forms(workbench: Workbench) -> None:
    viewer = workbench.signed_in("chakan")
    assert "修改此规则" not in viewer.get(f"/catalogue/rules/{RULE}").text
    assert "变更审核" not in viewer.get("/catalogue").text
    assert viewer.get(f"/catalogue/rules/{RULE}/change").status_code == 403
    arbiter = workbench.signed_in("wangmin")
    page = arbiter.get(f"/catalogue/rules/{RULE}").text
    assert "修改此规则" not in page


def test_a_duty_list_workbook_uploaded_makes_a_draft_of_the_rows_that_differ(
        workbench: Workbench, tmp_path: Path) -> None:
    api = admin_api(workbench)
    bundle = api.get("/v1/bundle").json()
    for rule in bundle["rules"]:
        if rule["id"] == RULE:
            rule["lead"] = "D-CZ"
    path = tmp_path / "十二月清单.xlsx"
    write_duty_list(bundle, path)
    author = workbench.signed_in("zhoubian")
    form = author.get("/changesets/upload").text
    untitled = author.post("/changesets/upload", data={"csrf_token": csrf_of(form), "title": ""},
                           files={"file": (path.name, path.read_bytes(), XLSX)})
    assert untitled.status_code == 422 and field_error(untitled.text, "title")
    wrong = author.post("/changesets/upload", data={"csrf_token": csrf_of(form), "title": "调整"},
                        files={"file": ("清单.txt", b"a,b", "text/plain")})
    assert wrong.status_code == 422
    assert "责任清单应为电子表格" in field_error(wrong.text, "file")
    assert stored_change_sets(workbench) == 0
    uploaded = author.post("/changesets/upload",
                           data={"csrf_token": csrf_of(form), "title": "十二月清单调整",
                                 "mode": "merge"},
                           files={"file": (path.name, path.read_bytes(), XLSX)})
    assert uploaded.status_code in (200, 303), uploaded.text
    page = uploaded.text if uploaded.status_code == 200 else \
        author.get(uploaded.headers["location"]).text
    assert "十二月清单调整" in page and "来自文件 十二月清单.xlsx" in page
    assert "<del>区交通局</del>" in page and "<ins>区城市管理综合行政执法局</ins>" in page
    assert stored_change_sets(workbench) == 1


def test_a_rival_draft_is_superseded_when_the_other_is_published(workbench: Workbench) -> None:
    author = workbench.signed_in("zhoubian")
    first = draft_move(author).headers["location"].split("?")[0]
    rival = draft_move(author, title="共享单车乱停放改由区城管委主办",
                       lead="区城市管理委员会（D-CG）", co_handlers="属地街乡").headers["location"]
    rival = rival.split("?")[0]
    reviewer = workbench.signed_in("sunshen")
    page = reviewer.get(first).text
    assert reviewer.post(f"{first}/approve", data={"csrf_token": csrf_of(page)}).status_code == 303
    kept = reviewer.get(rival).text
    assert "已被取代" in kept and f'<a href="/changesets/{first.rsplit("/", 1)[1]}">' in kept
    assert "批准发布</button>" not in kept and "退回</button>" not in kept
    late = reviewer.post(f"{rival}/approve", data={"csrf_token": csrf_of(page)})
    assert late.status_code == 409 and "已被取代，不能再审核" in late.text
    assert rival.rsplit("/", 1)[1] in reviewer.get("/changesets?status=superseded").text
