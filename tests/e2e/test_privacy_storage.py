"""Citizen privacy over HTTP, on SQLite and PostgreSQL: phone, ID and bank-card numbers
reach routing but no table — decisions, ticket events, disputes, rulings, audit log,
idempotency answers — stores them (北京市接诉即办工作条例: 个人信息依法受到保护)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

import api.tables  # noqa: F401  (registers every table on the metadata)
import arbitration.tables  # noqa: F401
from arbitration.audit import verify_log
from jurisdiction.tables import metadata
from rules.tables import decisions
from tests.conftest import contract_bundle

PHONE, PHONE_MASKED = "13812345678", "138****5678"
ID_NO, ID_MASKED = "110105199003071239", "110105********1239"
CARD, CARD_MASKED = "6222021234567894", "6222********7894"
LANDLINE, LANDLINE_MASKED = "010-62345678", "010-****5678"
RAW = (PHONE, ID_NO, CARD, "62345678")
TEXT = f"小区内有人私搭乱建，我姓张，电话{PHONE}，身份证{ID_NO}，退款请打到卡号{CARD}"
AT = "2026-11-26T09:{:02d}:00+08:00"


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def everything_stored(client: TestClient) -> str:
    """Every row of every table quanze has, as text."""
    db = client.app.state.services.db  # type: ignore[attr-defined]
    with db.connect() as conn:
        return "\n".join(repr(conn.execute(select(table)).all())
                         for table in metadata.sorted_tables)


def stored_request(client: TestClient, decision_id: str) -> dict[str, Any]:
    db = client.app.state.services.db  # type: ignore[attr-defined]
    with db.connect() as conn:
        return dict(conn.execute(select(decisions.c.request)
                                 .where(decisions.c.id == decision_id)).scalar_one())


def event(client: TestClient, ticket_id: str, minute: int, *, key: str | None = None,
          **body: Any) -> dict[str, Any]:
    headers = {"Idempotency-Key": key} if key else {}
    return ok(client.post(f"/v1/tickets/{ticket_id}/events",
                          json={**body, "at": AT.format(minute)}, headers=headers))


def test_nothing_stored_holds_a_phone_id_or_card_number_from_routing_to_ruling(
        app_client: TestClient) -> None:
    ok(app_client.put("/v1/bundle", json=contract_bundle()))
    # routing (the group-commit path), with the raw text
    decided = ok(app_client.post("/v1/route", json={
        "ticket_id": "T1", "category": "030101", "area": "110199001001", "text": TEXT,
        "attributes": {"location_type": "residential_compound"}, "as_of": AT.format(0)}))
    assert (decided["status"], decided["rule"]["id"]) == ("routed", "R-0301-01")
    request = stored_request(app_client, decided["decision_id"])
    assert request["text"] == (f"小区内有人私搭乱建，我姓张，电话{PHONE_MASKED}，"
                               f"身份证{ID_MASKED}，退款请打到卡号{CARD_MASKED}")
    # a routing system that put a phone number in an attribute (the batch path): the
    # explanation quotes the value, and is stored masked too
    batch = ok(app_client.post("/v1/route/batch", json={"tickets": [{
        "ticket_id": "T2", "category": "030101", "area": "110199001001",
        "attributes": {"location_type": PHONE}, "text": f"回电{LANDLINE}",
        "as_of": AT.format(1)}]}))
    second = batch["decisions"][0]
    assert any(PHONE in c["reason"] for c in second["explanation"]["candidates"])
    stored = stored_request(app_client, second["decision_id"])
    assert stored["attributes"] == {"location_type": PHONE_MASKED}
    assert stored["text"] == f"回电{LANDLINE_MASKED}"
    shown = ok(app_client.get(f"/v1/decisions/{second['decision_id']}"))
    assert any(PHONE_MASKED in c["reason"] for c in shown["explanation"]["candidates"])
    # ticket events: notes and bases, once with an Idempotency-Key (its answer is stored)
    event(app_client, "T1", 1, type="dispatched", unit="JD-HP", note=f"市民电话{PHONE}",
          key="k-1")
    state = event(app_client, "T1", 5, type="return_requested", unit="JD-HP",
                  reason_code="function_overlap", basis=f"见市民身份证{ID_NO}材料",
                  proposed_unit="D-ZJ", note=f"联系电话{LANDLINE}")
    assert state["pending_return"]["basis"] == f"见市民身份证{ID_MASKED}材料"
    event(app_client, "T1", 10, type="return_upheld")
    event(app_client, "T1", 15, type="reassigned", to_unit="D-ZJ")
    event(app_client, "T1", 20, type="return_requested", unit="D-ZJ",
          reason_code="territory_mismatch", basis="属地管理", proposed_unit="JD-HP")
    event(app_client, "T1", 25, type="return_upheld")
    state = event(app_client, "T1", 30, type="reassigned", to_unit="JD-HP")
    dispute_id = state["dispute_id"]
    assert dispute_id
    history = ok(app_client.get("/v1/tickets/T1"))["history"]
    assert history[0]["note"] == f"市民电话{PHONE_MASKED}"
    # a statement, a claim and a ruling with numbers in their text
    statement = ok(app_client.post(f"/v1/disputes/{dispute_id}/statements", json={
        "unit": "JD-HP", "text": f"市民（电话{PHONE}）称违建系邻居所为",
        "basis": f"卡号{CARD}的缴费记录", "proposed_lead": "D-ZJ"}), 201)
    assert statement["statements"][-1]["text"] == f"市民（电话{PHONE_MASKED}）称违建系邻居所为"
    ok(app_client.post(f"/v1/disputes/{dispute_id}/claim", json={}))
    ok(app_client.post(f"/v1/disputes/{dispute_id}/ruling", json={
        "lead": "D-ZJ", "co_handlers": ["JD-HP"], "document_no": "示政办裁〔2026〕3号",
        "reasoning": f"经核实（身份证{ID_NO}），住建委牵头", "basis": "区长办公会纪要第7号",
        "generalize": {"category": "030101", "area": "110199", "when": {}, "text_any": []},
        "retire_rules": []}), 201)
    stored_text = everything_stored(app_client)
    for raw in RAW:
        assert raw not in stored_text
    for masked in (PHONE_MASKED, ID_MASKED, CARD_MASKED, LANDLINE_MASKED):
        assert masked in stored_text
    # the audit chain hashes what is stored, and verifies
    with app_client.app.state.services.db.connect() as conn:  # type: ignore[attr-defined]
        count, problems = verify_log(conn)
    assert count > 10 and problems == []


def test_routing_reads_the_raw_text_before_it_is_masked(app_client: TestClient) -> None:
    bundle = contract_bundle()
    # a keyword that only the raw text holds: masking hides the middle of the number
    bundle["rules"].append({"id": "R-030102-K", "category": "030102", "text_any": ["1234"],
                            "lead": "D-ZJ", "basis": "test", "valid_from": None})
    ok(app_client.put("/v1/bundle", json=bundle))
    decided = ok(app_client.post("/v1/route", json={
        "category": "030102", "area": "110199001", "text": f"路边违建，电话{PHONE}",
        "as_of": AT.format(0)}))
    assert (decided["rule"]["id"], decided["lead"]["code"]) == ("R-030102-K", "D-ZJ")
    assert stored_request(app_client, decided["decision_id"])["text"] == (
        f"路边违建，电话{PHONE_MASKED}")
    # an ordinary keyword beside a masked number matches, is stored, and replays the same
    decided = ok(app_client.post("/v1/route", json={
        "category": "030101", "area": "110199001001", "text": f"私搭乱建，电话{PHONE}",
        "attributes": {"location_type": "public_road"}, "as_of": AT.format(1)}))
    assert decided["rule"]["id"] == "R-0301-01"
    replay = ok(app_client.get(f"/v1/decisions/{decided['decision_id']}/replay"))
    assert replay["same"] is True and replay["text_removed"] is False
