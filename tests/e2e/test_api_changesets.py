"""Change sets over HTTP, on SQLite and PostgreSQL: a catalogue change is drafted with its
findings and impact, changes no routing, is published only by a second editor (四眼原则) and
then routes at once; rejected and superseded change sets stay on record; bad input is 422
naming the field and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from arbitration.audit import verify_log
from arbitration.tables import audit_log
from rules.dutylist import write_duty_list
from tests.e2e.test_api_keys import bearer, make_key, refused
from tests.e2e.test_api_rulings import code_of, ok, post_event, route

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: 小区内私搭乱建 (030101) moves from the territorial street to the construction commission
MOVE_LEAF: dict[str, Any] = {
    "title": "小区内私搭乱建改由区住建委主办",
    "rules": [{"id": "R-030101-ZJ", "category": "030101", "area": None,
               "lead": "D-ZJ", "co_handlers": ["@territorial"],
               "basis": "区政府常务会议纪要〔2026〕9号", "source": "catalog",
               "valid_from": "2026-01-01T00:00:00+08:00"}],
    "retire": []}


def editors(client: TestClient) -> tuple[dict[str, str], dict[str, str]]:
    first = make_key(client, role="editor", name="目录员甲")
    second = make_key(client, role="editor", name="目录员乙")
    return bearer(first["key"]), bearer(second["key"])


def draft(client: TestClient, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    return ok(client.post("/v1/changesets", json=body, headers=headers), 201)


def version(client: TestClient) -> int:
    return int(ok(client.get("/v1/ruleset"))["version"])


def test_a_second_editor_publishes_a_change_set_whose_impact_matched_what_changed(
        loaded_client: TestClient) -> None:
    client = loaded_client
    author, reviewer = editors(client)
    made = {tid: route(client, tid, minute=i) for i, tid in enumerate(("T1", "T2", "T3"))}
    other = ok(client.post("/v1/route", json={
        "ticket_id": "T4", "category": "030102", "area": "110199001",
        "as_of": "2026-11-26T09:05:00+08:00"}))
    post_event(client, "T1", 10, type="dispatched", unit="JD-HP")
    before = version(client)

    drafted = draft(client, MOVE_LEAF, author)
    assert drafted["status"] == "draft"
    assert drafted["id"].startswith("CS-2026112")
    assert isinstance(drafted["findings"], list)
    impact = drafted["impact"]
    assert impact["changed_decisions"]["count"] == 3
    assert {(s["before"]["lead"], s["after"]["lead"])
            for s in impact["changed_decisions"]["sample"]} == {("JD-HP", "D-ZJ")}
    assert [(t["ticket_id"], t["lead_before"], t["lead_after"])
            for t in impact["open_tickets"]] == [("T1", "JD-HP", "D-ZJ")]
    assert impact["outranks"] == ["R-0301-01"]
    assert [(d["rule_id"], d["change"]) for d in drafted["diff"]] == [("R-030101-ZJ", "added")]

    # a draft changes no routing
    assert version(client) == before
    assert code_of(route(client, "T9", minute=20)["lead"]) == "JD-HP"
    refused(client.post(f"/v1/changesets/{drafted['id']}/approve", headers=author), 403,
            "own_change_set")
    assert version(client) == before

    published = ok(client.post(f"/v1/changesets/{drafted['id']}/approve", headers=reviewer))
    assert (published["status"], published["published_version"]) == ("published", before + 1)
    assert [e["type"] for e in published["history"]] == ["drafted", "published"]
    assert code_of(route(client, "T10", minute=30)["lead"]) == "D-ZJ"
    newest = ok(client.get("/v1/versions"))["versions"][0]
    assert drafted["id"] in newest["note"]

    with client.app.state.services.db.connect() as conn:  # type: ignore[attr-defined]
        actions = [r.action for r in conn.execute(
            select(audit_log.c.action).where(audit_log.c.subject == f"change_set:{drafted['id']}")
            .order_by(audit_log.c.seq))]
        assert verify_log(conn)[1] == []
    assert actions == ["change_set_drafted", "change_set_published"]

    replays = {tid: ok(client.get(f"/v1/decisions/{d['decision_id']}/replay",
                                 params={"version": "current"}))
               for tid, d in {**made, "T4": other}.items()}
    changed = {r["decision_id"] for r in replays.values() if not r["same"]}
    assert len(changed) == impact["changed_decisions"]["count"]
    assert changed == {s["decision_id"] for s in impact["changed_decisions"]["sample"]}


def test_a_rejected_change_set_stays_on_record_and_cannot_be_published(
        loaded_client: TestClient) -> None:
    client = loaded_client
    author, reviewer = editors(client)
    drafted = draft(client, MOVE_LEAF, author)
    refused(client.post(f"/v1/changesets/{drafted['id']}/reject", json={}, headers=reviewer),
            422, "invalid_request")
    rejected = ok(client.post(f"/v1/changesets/{drafted['id']}/reject",
                              json={"reason": "应先征求住建委意见"}, headers=reviewer))
    assert (rejected["status"], rejected["reason"]) == ("rejected", "应先征求住建委意见")
    assert rejected["history"][-1]["type"] == "rejected"
    refused(client.post(f"/v1/changesets/{drafted['id']}/approve", headers=reviewer), 409,
            "change_set_not_draft")
    listed = ok(client.get("/v1/changesets", params={"status": "rejected"}))["items"]
    assert [c["id"] for c in listed] == [drafted["id"]]
    assert ok(client.get("/v1/changesets", params={"status": "draft"}))["items"] == []
    kept = ok(client.get(f"/v1/changesets/{drafted['id']}"))
    assert kept["rules"][0]["id"] == "R-030101-ZJ"
    assert code_of(route(client, "T1")["lead"]) == "JD-HP"


def test_publishing_a_change_set_supersedes_the_drafts_that_touch_its_rules(
        loaded_client: TestClient) -> None:
    client = loaded_client
    author, reviewer = editors(client)
    first = draft(client, MOVE_LEAF, author)
    rival = draft(client, {**MOVE_LEAF, "title": "改由城管委主办", "rules": [
        {**MOVE_LEAF["rules"][0], "lead": "D-CG"}]}, reviewer)
    apart = draft(client, {"title": "道路两侧违建加协办", "rules": [
        {"id": "R-030102-01", "category": "030102", "lead": "D-CG",
         "co_handlers": ["@territorial", "D-GZ"], "basis": "《区城管委三定规定》第三条",
         "valid_from": "2026-01-01T00:00:00+08:00"}]}, author)
    assert [d["change"] for d in apart["diff"]] == ["changed"]
    assert apart["diff"][0]["fields"] == [
        {"field": "co_handlers", "old": ["@territorial"], "new": ["@territorial", "D-GZ"]}]

    ok(client.post(f"/v1/changesets/{first['id']}/approve", headers=reviewer))
    superseded = ok(client.get(f"/v1/changesets/{rival['id']}"))
    assert (superseded["status"], superseded["superseded_by"]) == ("superseded", first["id"])
    assert [e["type"] for e in superseded["history"]] == ["drafted", "superseded"]
    assert ok(client.get(f"/v1/changesets/{apart['id']}"))["status"] == "draft"
    refused(client.post(f"/v1/changesets/{rival['id']}/approve", headers=author), 409,
            "change_set_not_draft")


def test_a_change_set_whose_rule_moved_since_its_draft_is_not_published(
        loaded_client: TestClient) -> None:
    client = loaded_client
    author, reviewer = editors(client)
    drafted = draft(client, {"title": "违建规则改为住建委主办", "rules": [
        {**MOVE_LEAF["rules"][0], "id": "R-0301-01", "category": "0301"}]}, author)
    ok(client.patch("/v1/rules/R-0301-01", json={"priority": 5}))
    refused(client.post(f"/v1/changesets/{drafted['id']}/approve", headers=reviewer), 409,
            "change_set_stale")
    assert ok(client.get(f"/v1/changesets/{drafted['id']}"))["status"] == "draft"


BAD_INPUT = [
    ({**MOVE_LEAF, "rules": [{**MOVE_LEAF["rules"][0], "lead": "D-XX"}]}, "rules[0].lead"),
    ({**MOVE_LEAF, "rules": [{**MOVE_LEAF["rules"][0], "colour": "red"}]}, "rules[0].colour"),
    ({**MOVE_LEAF, "rules": [{**MOVE_LEAF["rules"][0], "category": "99"}]},
     "rules[0].category"),
    ({**MOVE_LEAF, "rules": [], "retire": ["R-NONE"]}, "retire[0]"),
    ({**MOVE_LEAF, "retire": ["R-030101-ZJ"]}, "retire[0]"),
    ({"rules": MOVE_LEAF["rules"]}, "title"),
    ({**MOVE_LEAF, "rules": [], "retire": []}, "rules"),
]


@pytest.mark.parametrize(("body", "field"), BAD_INPUT,
                         ids=[field for _, field in BAD_INPUT])
def test_an_invalid_change_set_is_refused_naming_the_field_and_nothing_is_written(
        loaded_client: TestClient, body: dict[str, Any], field: str) -> None:
    response = loaded_client.post("/v1/changesets", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field, response.json()
    assert ok(loaded_client.get("/v1/changesets"))["items"] == []


def test_only_editors_and_admins_draft_and_decide_change_sets(
        loaded_client: TestClient) -> None:
    viewer = bearer(make_key(loaded_client, role="viewer", name="只读")["key"])
    refused(loaded_client.post("/v1/changesets", json=MOVE_LEAF, headers=viewer), 403,
            "forbidden")
    drafted = draft(loaded_client, MOVE_LEAF, {})
    refused(loaded_client.post(f"/v1/changesets/{drafted['id']}/approve", headers=viewer), 403,
            "forbidden")
    refused(loaded_client.get("/v1/changesets/CS-NOPE"), 404, "change_set_not_found")


def test_a_duty_list_workbook_drafts_the_rows_that_differ_from_the_live_matrix(
        loaded_client: TestClient, tmp_path: Path) -> None:
    client = loaded_client
    bundle = ok(client.get("/v1/bundle"))
    for rule in bundle["rules"]:
        if rule["id"] == "R-030102-01":
            rule["lead"] = "D-ZJ"
    path = tmp_path / "清单.xlsx"
    write_duty_list(bundle, path)
    drafted = ok(client.post("/v1/changesets/workbook", params={"title": "十二月清单调整"},
                             content=path.read_bytes(), headers={"Content-Type": XLSX}), 201)
    assert [(d["rule_id"], d["change"]) for d in drafted["diff"]] == [
        ("R-030102-01", "changed")]
    assert [(f["field"], f["old"], f["new"]) for f in drafted["diff"][0]["fields"]] == [
        ("lead", "D-CG", "D-ZJ")]
    assert drafted["source"] == "duty-list.xlsx"
    refused(client.post("/v1/changesets/workbook", params={"title": "x"}, content=b"a,b",
                        headers={"Content-Type": "text/plain"}), 422, "invalid_file")



def test_a_change_set_the_engine_could_not_serve_is_refused_at_draft_time(
        loaded_client: TestClient) -> None:
    from tests.integration.test_unservable_changes import too_many_rules

    before = version(loaded_client)
    refused(loaded_client.post("/v1/changesets", json={
        "title": "过大的变更", "rules": too_many_rules()}), 422, "shard_too_large")
    assert version(loaded_client) == before
    assert ok(loaded_client.get("/v1/changesets"))["items"] == []


def test_two_rival_change_sets_approved_at_once_publish_exactly_one(
        loaded_client: TestClient) -> None:
    from tests.e2e.test_concurrent_writers import at_once

    client = loaded_client
    author, reviewer = editors(client)
    rivals = [draft(client, {**MOVE_LEAF, "title": f"改由{lead}主办", "rules": [
        {**MOVE_LEAF["rules"][0], "lead": lead}]}, author)["id"] for lead in ("D-ZJ", "D-CG")]
    before = version(client)
    def approve(cs: str) -> Callable[[], Any]:
        return lambda: client.post(f"/v1/changesets/{cs}/approve", headers=reviewer)

    answers = at_once([approve(cs) for cs in rivals])
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    assert version(client) == before + 1
    statuses = sorted(ok(client.get(f"/v1/changesets/{cs}"))["status"] for cs in rivals)
    assert statuses == ["published", "superseded"]
