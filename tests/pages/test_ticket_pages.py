"""Tickets on the workbench: a unit clerk's own tickets and return, the hotline's review of
returns and its out-of-scope close, driven through the pages as a person would."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.auth import create_key
from api.pages.units import UnitNotResolved, resolve
from api.pages.web import cn_time
from jurisdiction.model import Unit, UnitKind
from tests.pages.conftest import Workbench, csrf_of

#: a matter the catalogue gives the urban management commission (D-CG) to lead
GAS = {"category": "030605", "area": "110199001001", "text": "小区燃气管道有异味"}


def admin_api(workbench: Workbench) -> TestClient:
    services = workbench.app.state.services  # type: ignore[attr-defined]
    with services.db.begin() as conn:
        key = create_key(conn, role="admin", name="ticket pages", unit=None,
                         now=workbench.clock())
    client = TestClient(workbench.app)  # type: ignore[arg-type]
    client.headers["Authorization"] = f"Bearer {key}"
    return client


def new_ticket(workbench: Workbench, ticket_id: str) -> str:
    """Route a ticket and dispatch it to its lead, as the hotline's system does."""
    api = admin_api(workbench)
    at = workbench.clock().isoformat()
    decision = api.post("/v1/route", json={"ticket_id": ticket_id, **GAS, "as_of": at}).json()
    assert decision["lead"]["code"] == "D-CG", decision
    response = api.post(f"/v1/tickets/{ticket_id}/events",
                        json={"type": "dispatched", "unit": "D-CG", "at": at})
    assert response.status_code == 200, response.text
    return ticket_id


def history(workbench: Workbench, ticket_id: str) -> list[dict[str, object]]:
    return list(admin_api(workbench).get(f"/v1/tickets/{ticket_id}").json()["history"])


def linked_tickets(html: str) -> set[str]:
    return set(re.findall(r'href="/tickets/([^"?]+)"', html))


def post(browser: TestClient, page: str, action: str, **fields: str) -> object:
    csrf = csrf_of(browser.get(page).text)
    return browser.post(action, data={"csrf_token": csrf, **fields})


def test_a_unit_clerk_lists_only_tickets_their_unit_holds_or_held(workbench: Workbench) -> None:
    ticket = new_ticket(workbench, "T-PAGES-OWN")
    chengguan = workbench.signed_in("chengguan").get("/tickets")
    weijian = workbench.signed_in("weijian").get("/tickets")
    assert chengguan.status_code == weijian.status_code == 200
    assert ticket in linked_tickets(chengguan.text)
    assert ticket not in linked_tickets(weijian.text)
    api = admin_api(workbench)
    for own, html in (("D-CG", chengguan.text), ("D-WJ", weijian.text)):
        for listed in linked_tickets(html):
            state = api.get(f"/v1/tickets/{listed}").json()
            held = {u["code"] for u in state["path"]} | {
                (e.get("unit") or e.get("to_unit")) for e in state["history"]}
            assert own in held, (own, listed)


def test_a_unit_clerk_gets_not_found_for_another_units_ticket(workbench: Workbench) -> None:
    ticket = new_ticket(workbench, "T-PAGES-OTHER")
    weijian = workbench.signed_in("weijian")
    page = weijian.get(f"/tickets/{ticket}")
    assert page.status_code == 404
    assert "燃气" not in page.text
    refused = weijian.post(f"/tickets/{ticket}/sign",
                           data={"csrf_token": csrf_of(weijian.get("/tickets").text)})
    assert refused.status_code == 404
    assert len(history(workbench, ticket)) == 1


def test_the_ticket_page_shows_the_routing_and_the_return_deadline(
        workbench: Workbench) -> None:
    ticket = new_ticket(workbench, "T-PAGES-SHOW")
    page = workbench.signed_in("chengguan").get(f"/tickets/{ticket}").text
    state = admin_api(workbench).get(f"/v1/tickets/{ticket}").json()
    assert GAS["text"] in page
    assert "《示范区街道配合履职事项清单》第10项" in page  # the rule's basis
    assert cn_time(state["return_deadline"]) in page
    assert "签收" in page and "申请退单" in page


def test_a_return_requested_in_the_window_is_rejected_by_the_hotline_with_its_reason(
        workbench: Workbench) -> None:
    ticket = new_ticket(workbench, "T-PAGES-RETURN")
    clerk = workbench.signed_in("chengguan")
    sent = post(clerk, f"/tickets/{ticket}", f"/tickets/{ticket}/return",
                reason_code="territory_mismatch", basis="属地管理事项，应由街道先行处置",
                proposed_unit="和平街道")
    assert sent.status_code == 303, sent.text  # type: ignore[attr-defined]
    assert "退单申请已提交" in clerk.get(sent.headers["location"]).text  # type: ignore[attr-defined]

    hotline = workbench.signed_in("rexian")
    review = hotline.get("/returns").text
    assert ticket in linked_tickets(review)
    assert "属地管理事项，应由街道先行处置" in review and "和平街道" in review
    rejected = post(hotline, "/returns", f"/tickets/{ticket}/reject", back="returns",
                    note="燃气管道属城管委牵头事项，不予退单")
    assert rejected.status_code == 303  # type: ignore[attr-defined]
    assert ticket not in linked_tickets(hotline.get("/returns").text)

    page = clerk.get(f"/tickets/{ticket}").text
    assert "驳回理由：燃气管道属城管委牵头事项，不予退单" in page
    assert "已签收" not in page and "签收</button>" in page  # the unit keeps it, to sign
    types = [e["type"] for e in history(workbench, ticket)]
    assert types == ["dispatched", "return_requested", "return_rejected"]
    assert history(workbench, ticket)[1]["proposed_unit"] == "JD-HP"


@pytest.mark.parametrize(("fields", "field_message"), [
    ({"reason_code": "territory_mismatch", "basis": "  "}, "依据"),
    ({"reason_code": "territory_mismatch", "basis": "属地管理", "proposed_unit": "不存在的局"},
     "不存在的局"),
])
def test_a_return_with_bad_input_is_refused_beside_the_field_and_nothing_is_written(
        workbench: Workbench, fields: dict[str, str], field_message: str) -> None:
    ticket = new_ticket(workbench, "T-PAGES-BAD")
    clerk = workbench.signed_in("chengguan")
    refused = post(clerk, f"/tickets/{ticket}", f"/tickets/{ticket}/return", **fields)
    assert refused.status_code == 422  # type: ignore[attr-defined]
    errors = re.findall(r'<p class="field-error"[^>]*>([^<]*)</p>',
                        refused.text)  # type: ignore[attr-defined]
    assert len(errors) == 1 and field_message in errors[0], errors
    assert len(history(workbench, ticket)) == 1


def test_a_late_return_is_not_offered_and_is_refused_with_the_deadline(
        workbench: Workbench) -> None:
    ticket = new_ticket(workbench, "T-PAGES-LATE")
    deadline = admin_api(workbench).get(f"/v1/tickets/{ticket}").json()["return_deadline"]
    workbench.clock.now += timedelta(days=10)
    clerk = workbench.signed_in("chengguan")
    page = clerk.get(f"/tickets/{ticket}").text
    csrf = csrf_of(page)
    assert "申请退单</button>" not in page
    assert f"退单时限已于 {cn_time(deadline)} 届满" in page
    refused = clerk.post(f"/tickets/{ticket}/return", data={
        "csrf_token": csrf, "reason_code": "other", "basis": "不属本单位职责"})
    assert refused.status_code == 409
    assert f"退单时限已于{cn_time(deadline)}届满" in refused.text
    assert len(history(workbench, ticket)) == 1


def test_a_deadline_counted_over_an_unknown_year_is_marked_provisional(
        workbench: Workbench) -> None:
    # dispatched on the last day of 2026: the return window runs into 2027, whose holidays
    # the calendar does not know yet
    workbench.clock.now = datetime(2026, 12, 31, 2, 0, tzinfo=UTC)
    ticket = new_ticket(workbench, "T-PAGES-2027")
    state = admin_api(workbench).get(f"/v1/tickets/{ticket}").json()
    assert state["return_deadline_provisional"] is True
    clerk = workbench.signed_in("chengguan")
    for page in (clerk.get("/tickets").text, clerk.get(f"/tickets/{ticket}").text):
        row = page[page.index(cn_time(state["return_deadline"])):][:400]
        assert 'class="badge provisional" title="期限跨越尚未公布放假安排的年份' in row
        assert "暂定" in row


def test_the_hotline_closes_a_ticket_as_out_of_scope_and_a_clerk_cannot(
        workbench: Workbench) -> None:
    ticket = new_ticket(workbench, "T-PAGES-CLOSE")
    clerk = workbench.signed_in("chengguan")
    assert "按非受理范围办结</button>" not in clerk.get(f"/tickets/{ticket}").text
    refused = post(clerk, f"/tickets/{ticket}", f"/tickets/{ticket}/close",
                   outcome="informed", basis="非政府职责")
    assert refused.status_code == 403  # type: ignore[attr-defined]
    assert len(history(workbench, ticket)) == 1

    hotline = workbench.signed_in("rexian")
    assert "按非受理范围办结</button>" in hotline.get(f"/tickets/{ticket}").text
    closed = post(hotline, f"/tickets/{ticket}", f"/tickets/{ticket}/close",
                  outcome="informed", basis="属民事纠纷，已告知诉求人通过法律途径解决")
    assert closed.status_code == 303  # type: ignore[attr-defined]
    last = history(workbench, ticket)[-1]
    assert last["type"] == "closed_out_of_scope" and last["unit"] == "O-RX"
    assert last["outcome"] == "informed"


def test_the_hotline_reassigns_a_ticket_to_a_unit_named_by_its_full_name(
        workbench: Workbench) -> None:
    ticket = new_ticket(workbench, "T-PAGES-MOVE")
    hotline = workbench.signed_in("rexian")
    unknown = post(hotline, f"/tickets/{ticket}", f"/tickets/{ticket}/reassign",
                   to_unit="区不存在委员会")
    assert unknown.status_code == 422  # type: ignore[attr-defined]
    moved = post(hotline, f"/tickets/{ticket}", f"/tickets/{ticket}/reassign",
                 to_unit="和平街道（JD-HP）", note="属地先行处置")
    assert moved.status_code == 303  # type: ignore[attr-defined]
    last = history(workbench, ticket)[-1]
    assert (last["type"], last["to_unit"]) == ("reassigned", "JD-HP")
    assert len(history(workbench, ticket)) == 2


def test_only_the_hotline_and_admins_review_returns(workbench: Workbench) -> None:
    assert workbench.signed_in("chengguan").get("/returns").status_code == 403
    assert workbench.signed_in("rexian").get("/returns").status_code == 200


UNITS = {"D-CG": Unit("D-CG", "区城市管理委员会", UnitKind.DEPARTMENT),
         "JD-HP": Unit("JD-HP", "和平街道", UnitKind.STREET)}


@pytest.mark.parametrize(("typed", "code"), [
    ("D-CG", "D-CG"), ("d-cg", "D-CG"), ("区城市管理委员会", "D-CG"), (" 和平街道 ", "JD-HP"),
    ("和平街道（JD-HP）", "JD-HP"), ("和平街道(JD-HP)", "JD-HP"), ("和平", "JD-HP")])
def test_a_unit_is_found_by_its_code_its_name_or_both(typed: str, code: str) -> None:
    assert resolve(UNITS, typed) == code


@pytest.mark.parametrize("typed", ["城管", "和平街道（JD-XX）", "区城市管理委员会 D-CG"])
def test_a_unit_named_otherwise_is_refused_in_chinese(typed: str) -> None:
    with pytest.raises(UnitNotResolved) as refused:
        resolve(UNITS, typed)
    assert "单位" in refused.value.message
