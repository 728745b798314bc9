"""Rulings through the service functions, on SQLite and PostgreSQL: the bounce that opens a
dispute, the preview, the ruling in one transaction, races, lineage."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.deps import Services
from arbitration import rulings, service
from arbitration.policy import DEFAULT_POLICY
from arbitration.rulings import Generalize, RulingRequest
from arbitration.tables import audit_log
from arbitration.tables import rulings as rulings_table
from arbitration.tickets import Event
from jurisdiction.errors import Conflict, InvalidInput
from rules.tables import decisions
from tests.conftest import contract_bundle

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=CST)  # the app clock reads 10:00 +08:00
ARBITER = "tests"  # the name of the test client's admin key (claims are by name)


def services_of(client: TestClient) -> Services:
    s: Services = client.app.state.services  # type: ignore[attr-defined]
    return s


def load(client: TestClient) -> None:
    response = client.put("/v1/bundle", json=contract_bundle())
    assert response.status_code == 200, response.text


def route(client: TestClient, ticket_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"category": "030101", "area": "110199001001",
                            "attributes": {"location_type": "residential_compound"},
                            "text": "小区内有人私搭乱建", "as_of": "2026-11-26T09:00:00+08:00"}
    if ticket_id:
        body["ticket_id"] = ticket_id
    response = client.post("/v1/route", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def event(s: Services, ticket_id: str, minutes: int, **fields: Any) -> Any:
    with s.db.begin() as conn:
        return service.record_ticket_event(
            conn, ticket_id=ticket_id, event=Event(at=T0 + timedelta(minutes=minutes),
                                                   **fields),
            actor="router:tests", now=s.clock(), policy=DEFAULT_POLICY)


def bounce(s: Services, ticket_id: str) -> str:
    """JD-HP → D-ZJ → JD-HP: returned both ways, upheld both times; the dispute it opens."""
    event(s, ticket_id, 0, type="dispatched", unit="JD-HP", category="030101",
          area="110199001001")
    event(s, ticket_id, 5, type="return_requested", unit="JD-HP", reason_code="function_overlap",
          basis="街道只负责巡查发现", proposed_unit="D-ZJ")
    event(s, ticket_id, 10, type="return_upheld")
    event(s, ticket_id, 15, type="reassigned", to_unit="D-ZJ")
    event(s, ticket_id, 20, type="return_requested", unit="D-ZJ", reason_code="territory_mismatch",
          basis="属地管理", proposed_unit="JD-HP")
    event(s, ticket_id, 25, type="return_upheld")
    state = event(s, ticket_id, 30, type="reassigned", to_unit="JD-HP")
    assert state.dispute_open and state.dispute_id
    return str(state.dispute_id)


def claim(s: Services, dispute_id: str, arbiter: str = ARBITER) -> None:
    with s.db.begin() as conn:
        service.claim_dispute(conn, dispute_id, arbiter, s.clock(), DEFAULT_POLICY)


def request(**overrides: Any) -> RulingRequest:
    values: dict[str, Any] = {
        "lead": "D-ZJ", "co_handlers": ("JD-HP",), "reasoning": "小区内私搭乱建由住建委牵头查处",
        "basis": "区长办公会纪要第7号", "document_no": "示政办裁〔2026〕3号",
        "generalize": Generalize(category="030101", area="110199")}
    values.update(overrides)
    return RulingRequest(**values)


def rule(s: Services, dispute_id: str, req: RulingRequest | None = None,
         arbiter: str = ARBITER) -> dict[str, Any]:
    return rulings.rule_dispute(s.db, s.router, dispute_id, req or request(), arbiter=arbiter,
                                actor=arbiter, now=s.clock(), after=s.after_matrix_change)


def count(s: Services, table: Any) -> int:
    with s.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_ruling_writes_back_its_rule_closes_the_dispute_and_reassigns_the_ticket(
        app_client: TestClient) -> None:
    load(app_client)
    s = services_of(app_client)
    route(app_client, "T1")
    dispute_id = bounce(s, "T1")
    claim(s, dispute_id)
    before = s.router.current().version

    done = rule(s, dispute_id)

    assert done["ruleset_version"] == before + 1
    assert done["rule_id"] == "RUL-" + done["ruling_id"].split("_", 1)[1]
    matrix = s.router.current()
    assert matrix.version == before + 1  # installed at once
    written = matrix.rules[done["rule_id"]]
    assert (written.source.value, written.ruling_id, written.lead) == (
        "ruling", done["ruling_id"], "D-ZJ")
    assert written.basis == "示政办裁〔2026〕3号 区长办公会纪要第7号"
    with s.db.connect() as conn:
        dispute = service.get_dispute(conn, dispute_id)
        ticket = service.get_ticket(conn, "T1")
    assert (dispute["status"], dispute["ruling_id"]) == ("ruled", done["ruling_id"])
    assert (ticket["owner"], ticket["status"], ticket["dispute_id"]) == (
        "D-ZJ", "dispatched", dispute_id)
    assert ticket["history"][-1]["type"] == "reassigned"
    again = route(app_client)
    assert again["rule"]["source"] == "ruling"
    assert again["lead"]["code"] == "D-ZJ"


def test_a_ruling_is_audited_with_its_rule_change(app_client: TestClient) -> None:
    load(app_client)
    s = services_of(app_client)
    dispute_id = bounce(s, "T1")
    claim(s, dispute_id)
    done = rule(s, dispute_id)
    with s.db.connect() as conn:
        subjects = [r.subject for r in conn.execute(select(audit_log.c.subject)
                                                    .order_by(audit_log.c.seq))]
    assert f"ruling:{done['ruling_id']}" in subjects
    assert f"rule:{done['rule_id']}" in subjects
    assert f"dispute:{dispute_id}" in subjects


def test_the_preview_counts_the_earlier_decision_and_lists_the_open_ticket(
        app_client: TestClient) -> None:
    load(app_client)
    s = services_of(app_client)
    decided = route(app_client, "T1")
    dispute_id = bounce(s, "T1")
    claim(s, dispute_id)
    version = s.router.current().version
    rows = count(s, decisions), count(s, rulings_table), count(s, audit_log)

    seen = rulings.preview(s.db, s.router, dispute_id, request(), arbiter=ARBITER,
                           now=s.clock())

    assert seen["changed_decisions"]["count"] == 1
    sample = seen["changed_decisions"]["sample"][0]
    assert sample["decision_id"] == decided["decision_id"]
    assert sample["before"]["lead"] == "JD-HP" and sample["after"]["lead"] == "D-ZJ"
    assert [t["ticket_id"] for t in seen["open_tickets"]] == ["T1"]
    assert seen["open_tickets"][0]["new_lead"] == "D-ZJ"
    assert seen["outranks"] == ["R-0301-01"]
    assert seen["outranked_by"] == []
    # nothing written
    assert s.router.current().version == version
    assert (count(s, decisions), count(s, rulings_table), count(s, audit_log)) == rows


def test_a_narrower_rule_still_outranks_the_ruling_and_keeps_its_decisions(
        app_client: TestClient) -> None:
    load(app_client)
    s = services_of(app_client)
    narrow = {"id": "R-NARROW", "category": "030101", "area": "110199001",
              "lead": "JD-HP", "basis": "街道清单第3项"}
    assert app_client.post("/v1/rules", json=narrow).status_code == 201
    route(app_client, "T1")
    dispute_id = bounce(s, "T1")
    claim(s, dispute_id)
    seen = rulings.preview(s.db, s.router, dispute_id, request(), arbiter=ARBITER,
                           now=s.clock())
    assert seen["outranked_by"] == ["R-NARROW"]
    assert seen["changed_decisions"]["count"] == 0
    retiring = rulings.preview(s.db, s.router, dispute_id,
                               request(retire_rules=("R-NARROW",)), arbiter=ARBITER,
                               now=s.clock())
    assert retiring["changed_decisions"]["count"] == 1
    assert retiring["outranked_by"] == []


def test_ruling_without_holding_the_claim_is_a_conflict(app_client: TestClient) -> None:
    load(app_client)
    s = services_of(app_client)
    dispute_id = bounce(s, "T1")
    with pytest.raises(Conflict) as unclaimed:
        rule(s, dispute_id)
    assert unclaimed.value.code == "dispute_not_claimed"
    claim(s, dispute_id, "arbiter:someone-else")
    with pytest.raises(Conflict) as other:
        rule(s, dispute_id)
    assert other.value.code == "dispute_not_claimed"
    assert count(s, rulings_table) == 0


def test_ruling_twice_leaves_one_ruling_and_a_conflict(app_client: TestClient) -> None:
    load(app_client)
    s = services_of(app_client)
    dispute_id = bounce(s, "T1")
    claim(s, dispute_id)
    rule(s, dispute_id)
    version = s.router.current().version
    with pytest.raises(Conflict) as again:
        rule(s, dispute_id)
    assert again.value.code == "dispute_closed"
    assert count(s, rulings_table) == 1
    assert s.router.current().version == version


def test_two_arbiters_ruling_at_once_leave_exactly_one_ruling(app_client: TestClient) -> None:
    load(app_client)
    s = services_of(app_client)
    dispute_id = bounce(s, "T1")
    claim(s, dispute_id)
    start = threading.Barrier(2)
    outcomes: list[str] = []
    lock = s.write_lock if s.db.dialect.name == "sqlite" else None

    def attempt() -> None:
        start.wait()
        try:
            if lock is not None:
                with lock:
                    rule(s, dispute_id)
            else:
                rule(s, dispute_id)
            outcomes.append("ruled")
        except Conflict as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["dispute_closed", "ruled"]
    assert count(s, rulings_table) == 1


def test_unknown_codes_in_a_ruling_are_invalid_input_naming_the_field(
        app_client: TestClient) -> None:
    load(app_client)
    s = services_of(app_client)
    dispute_id = bounce(s, "T1")
    claim(s, dispute_id)
    cases = [
        (request(lead="D-NOPE"), "lead"),
        (request(co_handlers=("JD-HP", "X-1")), "co_handlers[1]"),
        (request(generalize=Generalize(category="9999")), "generalize.category"),
        (request(generalize=Generalize(category="030101", area="42")), "generalize.area"),
        (request(retire_rules=("R-0301-01", "R-GONE")), "retire_rules[1]"),
        (request(supersedes="rlg_nothing"), "supersedes"),
    ]
    for req, field in cases:
        with pytest.raises(InvalidInput) as bad:
            rule(s, dispute_id, req)
        assert bad.value.context["field"] == field
    assert count(s, rulings_table) == 0


def test_a_later_ruling_supersedes_an_earlier_one_and_retires_its_rule(
        app_client: TestClient) -> None:
    load(app_client)
    s = services_of(app_client)
    first_dispute = bounce(s, "T1")
    claim(s, first_dispute)
    first = rule(s, first_dispute)
    second_dispute = bounce(s, "T2")
    claim(s, second_dispute)
    second = rule(s, second_dispute, request(lead="D-GZ", co_handlers=(),
                                             document_no="示政办裁〔2026〕9号",
                                             supersedes=first["ruling_id"]))
    matrix = s.router.current()
    assert first["rule_id"] not in matrix.rules
    assert second["retired_rules"] == [first["rule_id"]]
    with s.db.connect() as conn:
        old = rulings.get_ruling(conn, first["ruling_id"], matrix)
        new = rulings.get_ruling(conn, second["ruling_id"], matrix)
        listed = rulings.list_rulings(conn, matrix, category="03")
    assert old["superseded_by"] == second["ruling_id"]
    assert old["rule"]["in_force"] is False
    assert new["supersedes"] == first["ruling_id"]
    assert new["rule"]["in_force"] is True and new["rule"]["lead"] == "D-GZ"
    assert old["lineage"] == new["lineage"] == [first["ruling_id"], second["ruling_id"]]
    assert {r["id"] for r in listed} == {first["ruling_id"], second["ruling_id"]}
    third_dispute = bounce(s, "T3")
    claim(s, third_dispute)
    with pytest.raises(Conflict) as twice:
        rule(s, third_dispute, request(supersedes=first["ruling_id"]))
    assert twice.value.code == "ruling_superseded"
