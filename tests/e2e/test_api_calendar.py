"""The district's calendar over HTTP (issue 8 §1): `PUT /v1/policy` takes a calendar override,
return and dispute-stage deadlines use it and say when they are provisional, `verify` warns
`calendar_unknown`; and settings that would break the service are refused (issue 9 §4)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import Clock, contract_bundle
from tests.e2e.test_api_tickets import assert_audit_intact, load, post, refused, returned
from tests.unit.test_calendar_override import ILLUSTRATIVE_2027, POLICIES

PROBLEM = "application/problem+json"
EVE = "2026-12-31T10:00:00+08:00"


def put_policy(client: TestClient, body: dict[str, Any], district: str | None = "110199"
               ) -> dict[str, Any]:
    url = "/v1/policy" + (f"?district={district}" if district else "")
    response = client.put(url, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def calendar_warnings(client: TestClient, as_of: str) -> list[dict[str, Any]]:
    response = client.get("/v1/verify", params={"as_of": as_of})
    assert response.status_code == 200, response.text
    return [f for f in response.json()["findings"] if f["code"] == "calendar_unknown"]


def test_a_dispatch_on_new_years_eve_counts_the_districts_holiday_and_is_firm(
        app_client: TestClient, clock: Clock) -> None:
    load(app_client)
    clock.now = datetime(2026, 12, 31, 2, 0, tzinfo=UTC)
    saved = put_policy(app_client, {"calendar": ILLUSTRATIVE_2027})
    assert saved["policy"]["calendar"] == ILLUSTRATIVE_2027
    assert app_client.get("/v1/policy?district=110199").json()["policy"][
        "calendar"] == ILLUSTRATIVE_2027
    t = post(app_client, "T1", type="dispatched", unit="D-CG", at=EVE, area="110199001")
    assert t["return_deadline"] == "2027-01-04T10:00:00+08:00"
    assert t["return_deadline_provisional"] is False
    shown = app_client.get("/v1/tickets/T1").json()
    assert (shown["return_deadline"], shown["return_deadline_provisional"]) == (
        "2027-01-04T10:00:00+08:00", False)
    assert_audit_intact(app_client)


def test_without_the_override_the_deadline_is_provisional_until_the_district_enters_it(
        app_client: TestClient, clock: Clock) -> None:
    load(app_client)
    clock.now = datetime(2026, 12, 31, 2, 0, tzinfo=UTC)
    t = post(app_client, "T1", type="dispatched", unit="D-CG", at=EVE, area="110199001")
    assert t["return_deadline"] == "2027-01-01T10:00:00+08:00"
    assert t["return_deadline_provisional"] is True
    assert app_client.get("/v1/tickets/T1").json()["return_deadline_provisional"] is True
    post(app_client, "T2", type="dispatched", unit="D-CG", at=EVE, area="110199001")
    # The district enters 2027: the open ticket's deadline settles, and is the one enforced.
    put_policy(app_client, {"calendar": ILLUSTRATIVE_2027})
    shown = app_client.get("/v1/tickets/T1").json()
    assert (shown["return_deadline"], shown["return_deadline_provisional"]) == (
        "2027-01-04T10:00:00+08:00", False)
    clock.now = datetime(2027, 1, 2, 2, 0, tzinfo=UTC)
    pending = post(app_client, "T1", **returned("D-CG", "2027-01-02T09:00:00+08:00"))
    assert pending["status"] == "return_pending"
    # Past the settled deadline, a return is refused as before.
    clock.now = datetime(2027, 1, 4, 3, 0, tzinfo=UTC)
    assert refused(app_client, "T2", 409, **returned("D-CG", "2027-01-04T10:30:00+08:00"))[
        "code"] == "return_window_passed"
    assert_audit_intact(app_client)


def test_a_later_policy_change_does_not_change_a_stored_history(
        app_client: TestClient, clock: Clock) -> None:
    load(app_client)
    clock.now = datetime(2026, 12, 31, 2, 0, tzinfo=UTC)
    put_policy(app_client, {"calendar": ILLUSTRATIVE_2027})
    post(app_client, "T1", type="dispatched", unit="D-CG", at=EVE, area="110199001")
    clock.now = datetime(2027, 1, 3, 2, 0, tzinfo=UTC)
    post(app_client, "T1", **returned("D-CG", "2027-01-03T09:00:00+08:00"))
    before = app_client.get("/v1/tickets/T1").json()
    # The override is taken away again: 3 January, accepted under it, stays accepted on replay.
    put_policy(app_client, {})
    after = app_client.get("/v1/tickets/T1").json()
    assert after["history"] == before["history"] and after["status"] == "return_pending"


def test_dispute_stage_deadlines_are_provisional_and_settle_when_the_year_is_entered(
        app_client: TestClient, clock: Clock) -> None:
    load(app_client)
    clock.now = datetime(2026, 12, 30, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Beijing
    opened = app_client.post("/v1/disputes", json={"parties": ["D-CG", "JD-HP"],
                                                    "area": "110199001"})
    assert opened.status_code == 201, opened.text
    d = opened.json()
    assert d["stage_deadline"] == "2027-01-01T10:00:00+08:00"
    assert d["stage_deadline_provisional"] is True
    claimed_early = app_client.post("/v1/disputes", json={"parties": ["D-CG", "JD-HP"],
                                                           "area": "110199001"}).json()
    claimed = app_client.post(f"/v1/disputes/{claimed_early['id']}/claim").json()
    assert claimed["stage_deadline"] == "2027-01-06T10:00:00+08:00"
    assert claimed["stage_deadline_provisional"] is True
    assert [q["stage_deadline_provisional"] for q in
            app_client.get("/v1/disputes?status=open").json()["disputes"]] == [True]

    saved = put_policy(app_client, {"calendar": ILLUSTRATIVE_2027})
    assert saved["revised_deadlines"] == 2
    settled = app_client.get(f"/v1/disputes/{d['id']}").json()
    assert settled["stage_deadline"] == "2027-01-04T10:00:00+08:00"
    assert settled["stage_deadline_provisional"] is False
    revised = settled["events"][-1]
    assert revised["type"] == "deadline_revised"
    assert revised["payload"]["before"] == "2027-01-01T10:00:00+08:00"
    assert app_client.get(f"/v1/disputes/{claimed_early['id']}").json()[
        "stage_deadline"] == "2027-01-07T10:00:00+08:00"
    # New Year's Day is a holiday now: nothing is escalated on it ...
    clock.now = datetime(2027, 1, 1, 4, 0, tzinfo=UTC)
    assert app_client.post("/v1/disputes/escalate").json()["escalated"] == 0
    # ... and a dispute opened now gets a firm deadline.
    clock.now = datetime(2026, 12, 30, 3, 0, tzinfo=UTC)
    firm = app_client.post("/v1/disputes", json={"parties": ["D-CG"], "area": "110199001"})
    assert firm.json()["stage_deadline_provisional"] is False
    assert put_policy(app_client, {"calendar": ILLUSTRATIVE_2027})["revised_deadlines"] == 0
    assert_audit_intact(app_client)


def test_verify_warns_from_november_while_next_year_is_not_covered(
        app_client: TestClient) -> None:
    load(app_client)
    assert calendar_warnings(app_client, "2026-10-31T23:00:00+08:00") == []
    (warning,) = calendar_warnings(app_client, "2026-11-30T10:00:00+08:00")
    assert warning["severity"] == "warning" and warning["areas"] == ["110199"]
    assert "2027年" in warning["message"] and "示范区" in warning["message"]
    assert "quanze policy calendar" in warning["message"] and "--year 2027" in warning[
        "message"]
    assert app_client.get("/v1/verify", params={"as_of": "2026-11-30T10:00:00+08:00"}).json()[
        "counts"]["calendar_unknown"] == 1
    put_policy(app_client, {"calendar": {"years": [2027]}})
    assert calendar_warnings(app_client, "2026-11-30T10:00:00+08:00") == []
    assert [w["message"][:40] for w in calendar_warnings(
        app_client, "2027-11-01T10:00:00+08:00")] == [warning["message"][:40].replace(
            "2027", "2028")]


def test_settings_that_would_break_the_service_are_refused_naming_the_field(
        app_client: TestClient) -> None:
    load(app_client)
    cases = [('{"bounce_cap": NaN}', "bounce_cap"),
             ('{"return_windows": {"standard": 1e9}}', "return_windows.standard"),
             ('{"dispute_deadlines": {"open": Infinity, "under_review": 5}}',
              "dispute_deadlines.open"),
             ('{"tz": "Not/AZone"}', "tz"),
             ('{"calendar": {"holidays": ["2027-02-30"]}}', "calendar.holidays[0]"),
             ('{"calendar": {"years": [2027], "holidays": ["2027-02-07"], '
              '"working_days": ["2027-02-07"]}}', "calendar.working_days[0]")]
    for body, field in cases:
        response = app_client.put("/v1/policy", content=body,
                                  headers={"content-type": "application/json"})
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
        assert (response.json()["code"], response.json()["field"]) == ("invalid_policy", field)
    assert app_client.get("/v1/policy").json()["revision"] == 0
    # A dispatch still works under the policy in force.
    assert post(app_client, "T1", type="dispatched", unit="D-CG")["return_deadline"]


def test_a_bundle_with_an_unknown_time_zone_is_refused_and_statistics_keep_working(
        app_client: TestClient) -> None:
    bundle = contract_bundle()
    bundle["settings"]["timezone"] = "Not/AZone"
    response = app_client.put("/v1/bundle", json=bundle)
    assert response.status_code == 422, response.text
    assert [p["location"] for p in response.json()["problems"]] == ["settings.timezone"]
    assert app_client.get("/v1/stats/summary").status_code == 200


_ids = itertools.count()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(policy=POLICIES, tier=st.sampled_from([None, "standard", "complex"]))
@example(policy={"sign_in_windows": {"standard": "\x00"}}, tier=None)  # found in CI
def test_any_accepted_policy_keeps_routing_events_and_statistics_working(
        app_client: TestClient, policy: dict[str, Any], tier: str | None) -> None:
    if not app_client.get("/v1/ruleset").json()["counts"]["rules"]:
        load(app_client)
    body = json.dumps(policy)
    response = app_client.put("/v1/policy", content=body,
                              headers={"content-type": "application/json"})
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        problem = response.json()
        if "\\u0000" in body:  # a NUL is refused in any body before its fields are read
            assert problem["code"] == "invalid_character"
        else:
            assert problem["code"] == "invalid_policy" and problem["field"]
        return
    accepted = response.json()["policy"]
    ticket = f"P{next(_ids)}"
    routed = app_client.post("/v1/route", json={"ticket_id": ticket, "category": "030102",
                                                "area": "110199001"})
    assert routed.status_code == 200, routed.text
    event: dict[str, Any] = {"type": "dispatched", "unit": "D-CG"}
    if tier in accepted["return_windows"]:
        event["tier"] = tier
    state = post(app_client, ticket, **event)
    assert state["return_deadline"] is not None
    assert isinstance(state["return_deadline_provisional"], bool)
    reason = next(iter(accepted["reason_codes"]))
    post(app_client, ticket, type="return_requested", unit="D-CG", reason_code=reason,
         basis="职责清单")
    post(app_client, ticket, type="return_upheld")
    post(app_client, ticket, type="reassigned", to_unit="JD-HP")
    post(app_client, ticket, type="signed", unit="JD-HP")
    assert app_client.get(f"/v1/tickets/{ticket}").status_code == 200
    opened = app_client.post("/v1/disputes", json={"parties": ["D-CG"], "area": "110199001"})
    assert opened.status_code == 201, opened.text
    for path in ("/v1/stats/summary", "/v1/stats/units", "/v1/stats/hotspots", "/v1/verify"):
        assert app_client.get(path).status_code == 200, path
