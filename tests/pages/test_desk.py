"""The arbitration desk: a dispute's page, 认领, the ruling form (预览影响, 确认裁定), 提交陈述 —
driven as a person would, through the pages, and checked through the API and the database."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.auth import create_key
from api.staff import create_user
from arbitration import service
from arbitration.tables import audit_log
from tests.pages.conftest import PASSWORD, Workbench, csrf_of

RULING = {"reasoning": "经会商，夜间施工噪声由区卫生健康委员会牵头（测试）",
          "basis": "示范区夜间施工噪声专题会商纪要", "document_no": "示政办裁〔2026〕9号"}


def services_of(workbench: Workbench) -> Any:
    return workbench.app.state.services  # type: ignore[attr-defined]


def overdue_dispute(browser: TestClient) -> str:
    """The first dispute of the queue's overdue ones (soonest deadline first)."""
    page = browser.get("/disputes?overdue=1").text
    found = re.search(r'href="/disputes/(DSP-[^"]+)"', page)
    assert found, "the demo has an overdue dispute"
    return found.group(1)


def dispute_of(workbench: Workbench, dispute_id: str) -> dict[str, Any]:
    with services_of(workbench).db.connect() as conn:
        return service.get_dispute(conn, dispute_id)


def written(workbench: Workbench) -> tuple[int, str]:
    """What has been written: the audit log's length and the disputes' state."""
    with services_of(workbench).db.connect() as conn:
        entries = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
        disputes = service.list_disputes(conn, now=workbench.clock(), limit=200)
    return entries, repr(disputes)


def claimed(workbench: Workbench, login: str = "wangmin") -> tuple[TestClient, str]:
    browser = workbench.signed_in(login)
    dispute_id = overdue_dispute(browser)
    page = browser.get(f"/disputes/{dispute_id}").text
    response = browser.post(f"/disputes/{dispute_id}/claim", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 303, response.text
    return browser, dispute_id


def ruling_form(browser: TestClient, dispute_id: str, **fields: Any) -> dict[str, Any]:
    page = browser.get(f"/disputes/{dispute_id}").text
    category = re.search(r'<option value="([^"]*)" selected>', page.split('id="gen_category"')[1])
    assert category, "the ruling form offers the dispute's category"
    return {"csrf_token": csrf_of(page), "gen_category": category.group(1), "gen_area": "",
            **RULING, **fields}


def test_an_arbiter_rules_on_the_overdue_dispute_and_the_next_ticket_goes_to_the_new_lead(
        workbench: Workbench) -> None:
    unclaimed = workbench.signed_in("zhaoqiang")
    page = unclaimed.get(f"/disputes/{overdue_dispute(unclaimed)}").text
    assert "已超期" in page and "认领</button>" in page and ">主办单位</label>" not in page
    browser, dispute_id = claimed(workbench)
    page = browser.get(f"/disputes/{dispute_id}").text
    for name, words in (("lead", "主办单位"), ("co_handlers", "协办单位"),
                        ("reasoning", "裁定理由"), ("basis", "依据"), ("document_no", "文号")):
        assert f'<label for="{name}">{words}</label>' in page
    assert "预览影响</button>" in page
    assert "确认裁定" not in page.split('id="h-ruling"')[1].split("</form>")[0].replace(
        "再确认裁定", "")  # no confirm before a preview

    form = ruling_form(browser, dispute_id, lead="卫生健康")  # part of 区卫生健康委员会
    preview = browser.post(f"/disputes/{dispute_id}/ruling/preview", data=form)
    assert preview.status_code == 200, preview.text
    assert "将改派的在办工单" in preview.text and "确认裁定" in preview.text
    assert 'value="区卫生健康委员会（D-WJ）"' in preview.text  # the form stays filled
    digest = re.search(r'name="plan_digest" value="([0-9a-f]+)"', preview.text)
    assert digest

    done = browser.post(f"/disputes/{dispute_id}/ruling", data={
        **form, "csrf_token": csrf_of(preview.text), "plan_digest": digest.group(1)})
    assert done.status_code == 303, done.text
    result = browser.get(done.headers["location"])
    assert RULING["document_no"] in result.text and "裁定已生效" in result.text
    rule_link = re.search(r'href="/catalogue/rules/(RUL-[^"]+)"', result.text)
    assert rule_link
    dispute = dispute_of(workbench, dispute_id)
    assert dispute["status"] == "ruled"
    assert f'href="/tickets/{dispute["ticket_id"]}"' in result.text

    with services_of(workbench).db.begin() as conn:
        key = create_key(conn, role="admin", name="desk-tests", unit=None, now=workbench.clock())
    api = workbench.browser()
    routed = api.post("/v1/route", headers={"Authorization": f"Bearer {key}"}, json={
        "category": dispute["category"], "area": dispute["area"], "text": "夜里工地施工太吵"})
    assert routed.status_code == 200, routed.text
    assert routed.json()["lead"]["code"] == "D-WJ"
    assert routed.json()["rule"]["id"] == rule_link.group(1)


def test_a_ruling_whose_effects_changed_since_its_preview_asks_to_preview_again(
        workbench: Workbench) -> None:
    browser, dispute_id = claimed(workbench)
    form = ruling_form(browser, dispute_id, lead="D-WJ")
    before = written(workbench)
    response = browser.post(f"/disputes/{dispute_id}/ruling",
                            data={**form, "plan_digest": "0000000000000000"})
    assert response.status_code == 409
    assert "请重新预览影响" in response.text
    assert written(workbench) == before


def test_a_unit_clerk_cannot_see_another_units_dispute_in_the_queue_nor_by_its_url(
        workbench: Workbench) -> None:
    arbiter = workbench.signed_in("wangmin")
    dispute_id = overdue_dispute(arbiter)
    parties = dispute_of(workbench, dispute_id)["parties"]
    assert "D-WJ" not in parties
    clerk = workbench.signed_in("weijian")
    assert dispute_id not in clerk.get("/disputes").text
    hidden, unknown = (clerk.get(f"/disputes/{dispute_id}"),
                       clerk.get("/disputes/DSP-20990101-00000000"))
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.text.replace(dispute_id, "?") == unknown.text.replace(
        "DSP-20990101-00000000", "?")  # told apart by nothing: it does not exist for them
    page = clerk.get("/disputes").text
    posted = clerk.post(f"/disputes/{dispute_id}/statements",
                        data={"csrf_token": csrf_of(page), "st_text": "不属本单位"})
    assert posted.status_code == 404


def test_a_unit_clerk_files_a_statement_and_it_shows_on_the_dispute(
        workbench: Workbench) -> None:
    arbiter = workbench.signed_in("wangmin")
    dispute_id = overdue_dispute(arbiter)
    parties = dispute_of(workbench, dispute_id)["parties"]
    login = f"clerk-{parties[0].lower()}"
    with services_of(workbench).db.begin() as conn:
        create_user(conn, login=login, name="当事单位办事员", role="unit", unit=parties[0],
                    password=PASSWORD, now=workbench.clock(), actor="cli:tests")
    clerk = workbench.signed_in(login)
    assert dispute_id in clerk.get("/disputes").text
    page = clerk.get(f"/disputes/{dispute_id}").text
    assert "提交陈述" in page and "陈述内容" in page and "建议主办单位" in page
    response = clerk.post(f"/disputes/{dispute_id}/statements", data={
        "csrf_token": csrf_of(page), "st_text": "夜间施工噪声属环境卫生监督事项（测试陈述）",
        "st_basis": "《示范区部门职责清单》第12条", "st_lead": "区卫生健康委员会"})
    assert response.status_code == 303, response.text
    shown = clerk.get(response.headers["location"]).text
    assert "陈述已提交" in shown
    assert "夜间施工噪声属环境卫生监督事项（测试陈述）" in shown
    assert "《示范区部门职责清单》第12条" in shown
    statement = dispute_of(workbench, dispute_id)["statements"][-1]
    assert (statement["unit"], statement["proposed_lead"]) == (parties[0], "D-WJ")


def test_an_arbiter_of_a_party_unit_must_stand_aside_and_is_told_so_in_chinese(
        workbench: Workbench) -> None:
    arbiter = workbench.signed_in("wangmin")
    dispute_id = overdue_dispute(arbiter)
    party = dispute_of(workbench, dispute_id)["parties"][0]
    with services_of(workbench).db.begin() as conn:
        create_user(conn, login="huibi", name="回避员", role="arbiter", unit=party,
                    password=PASSWORD, now=workbench.clock(), actor="cli:tests")
    browser = workbench.signed_in("huibi")
    page = browser.get(f"/disputes/{dispute_id}").text
    before = written(workbench)
    response = browser.post(f"/disputes/{dispute_id}/claim", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 403
    assert "应当回避" in response.text
    assert written(workbench) == before
    assert dispute_of(workbench, dispute_id)["status"] == "open"


def test_a_dispute_claimed_by_another_arbiter_cannot_be_claimed_again(
        workbench: Workbench) -> None:
    _, dispute_id = claimed(workbench, "wangmin")
    other = workbench.signed_in("zhaoqiang")
    page = other.get(f"/disputes/{dispute_id}").text
    assert "审理中" in page and "预览影响" not in page
    response = other.post(f"/disputes/{dispute_id}/claim", data={"csrf_token": csrf_of(page)})
    assert response.status_code == 409
    assert "该争议已由 王敏 认领" in response.text


BAD_RULINGS = [
    ({"reasoning": "  "}, "reasoning", "请填写裁定理由"),
    ({"document_no": ""}, "document_no", "请填写文号"),
    ({"basis": ""}, "basis", "请填写依据"),
    ({"lead": "不存在的委员会"}, "lead", "找不到"),
    ({"lead": "城市管理"}, "lead", "对应多个单位"),
    ({"lead": ""}, "lead", "请选择主办单位"),
    ({"co_handlers": "区水务局、没有这个局"}, "co_handlers", "找不到"),
    ({"reasoning": "理" * 10_001}, "reasoning", "不能超过10000字"),
    ({"document_no": "号" * 101}, "document_no", "不能超过100字"),
    ({"gen_category": "999999"}, "gen_category", None),
]


def test_a_bad_ruling_form_says_what_is_wrong_beside_the_field_and_writes_nothing(
        workbench: Workbench) -> None:
    browser, dispute_id = claimed(workbench)
    form = {"lead": "区卫生健康委员会", **ruling_form(browser, dispute_id),
            "plan_digest": "0000000000000000"}
    before = written(workbench)
    for change, field, message in BAD_RULINGS:
        for action in ("ruling/preview", "ruling"):
            case = f"{action} with {str(change)[:40]}"
            response = browser.post(f"/disputes/{dispute_id}/{action}", data={**form, **change})
            assert response.status_code == 422, case
            error = re.search(
                rf'<p class="field-error" id="{field}-error" role="alert">([^<]+)</p>',
                response.text)
            assert error, f"{case}: no message beside {field}"
            assert re.search(r"[\u4e00-\u9fff]", error.group(1)), case
            if message is not None:
                assert message in error.group(1), case
    assert written(workbench) == before


BAD_STATEMENTS = [
    ({"st_text": ""}, "st_text", "请填写陈述内容"),
    ({"st_text": "陈" * 10_001}, "st_text", "不能超过10000字"),
    ({"st_basis": "据" * 4_001}, "st_basis", "不能超过4000字"),
    ({"st_lead": "没有这个单位"}, "st_lead", "找不到"),
]


def test_a_bad_statement_says_what_is_wrong_beside_the_field_and_writes_nothing(
        workbench: Workbench) -> None:
    browser = workbench.signed_in("wangmin")
    dispute_id = overdue_dispute(browser)
    page = browser.get(f"/disputes/{dispute_id}").text
    party = dispute_of(workbench, dispute_id)["parties"][0]
    before = written(workbench)
    for change, field, message in BAD_STATEMENTS:
        response = browser.post(f"/disputes/{dispute_id}/statements", data={
            "csrf_token": csrf_of(page), "st_unit": party, "st_text": "代当事单位陈述", **change})
        assert response.status_code == 422, change
        assert re.search(rf'id="{field}-error" role="alert">[^<]*{message}', response.text), \
            change
    assert written(workbench) == before


SUGGESTIONS = [("卫生健康", ["D-WJ"]), ("d-w", ["D-WJ", "D-WL"]), ("属地", ["@territorial"])]


def test_the_unit_picker_suggests_units_by_part_of_a_name_or_the_start_of_a_code(
        workbench: Workbench) -> None:
    browser = workbench.signed_in("wangmin")
    for typed, codes in SUGGESTIONS:
        found = browser.get("/units/suggest", params={"q": typed, "territorial": "1"}).json()
        assert [u["code"] for u in found["units"]][:len(codes)] == codes, typed


def test_a_viewer_reads_a_dispute_without_the_ruling_controls(workbench: Workbench) -> None:
    dispute_id = overdue_dispute(workbench.signed_in("wangmin"))
    page = workbench.signed_in("chakan").get(f"/disputes/{dispute_id}")
    assert page.status_code == 200
    assert "原派单说明" in page.text and "各方陈述" in page.text
    for control in ("认领</button>", "预览影响", "提交陈述"):
        assert control not in page.text
