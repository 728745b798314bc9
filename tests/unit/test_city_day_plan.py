"""The city day's schedule (benchmarks/bench_city_day.plan_day): a pure function of the city,
the counts and the seed. Nothing here is timed."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.bench_city_day import DAY, LIVES, NOT_EVENTS, DayCounts, plan_day
from benchmarks.synthetic_city import make_city

COUNTS = DayCounts(tickets=600, events=1_500, disputes=20, changes=5, rulings=4)


@pytest.fixture(scope="module")
def city() -> dict[str, Any]:
    return make_city(districts=2, seed=3)


def test_a_planned_day_holds_exactly_the_counts_asked(city: dict[str, Any]) -> None:
    counts = plan_day(city, COUNTS).counts()
    assert {k: counts[k] for k in ("tickets", "events", "disputes", "changes", "rulings")} == {
        "tickets": 600, "events": 1_500, "disputes": 20, "changes": 5, "rulings": 4}
    assert counts["statements"] == 2 * 20  # both parties of every dispute


def test_the_issue_s_day_is_sixty_thousand_tickets_and_a_hundred_fifty_thousand_events(
        ) -> None:
    assert DayCounts() == DayCounts(60_000, 150_000, 1_000, 100, 20)
    assert DayCounts().scaled(0.01) == DayCounts(600, 1_500, 10, 1, 0)


def test_every_life_starts_with_its_route_and_ends_before_midnight(
        city: dict[str, Any]) -> None:
    for ticket in plan_day(city, COUNTS).tickets:
        times = [s.at for s in ticket.steps]
        assert [s.op for s in ticket.steps] == ["route", *LIVES[ticket.kind]]
        assert times == sorted(times)
        assert times[0] >= 0 and times[-1] < DAY


def test_a_ruling_comes_after_its_dispute_opened_was_argued_claimed_and_previewed(
        city: dict[str, Any]) -> None:
    ruled = [t for t in plan_day(city, COUNTS).tickets if t.kind == "ruled"]
    assert len(ruled) == 4
    for ticket in ruled:
        ops = [s.op for s in ticket.steps]
        assert ops.index("reassigned@a") < ops.index("statement@b") < ops.index("claim") \
            < ops.index("preview") < ops.index("ruling")


def test_the_two_candidates_for_the_other_unit_differ(city: dict[str, Any]) -> None:
    # B is the first of `others` that is not the lead A, so the two must differ.
    for ticket in plan_day(city, COUNTS).tickets:
        assert ticket.others[0] != ticket.others[1]


def test_the_same_seed_draws_the_same_day_and_another_seed_another(
        city: dict[str, Any]) -> None:
    assert plan_day(city, COUNTS, seed=5) == plan_day(city, COUNTS, seed=5)
    assert plan_day(city, COUNTS, seed=5).tickets != plan_day(city, COUNTS, seed=6).tickets


def test_slices_of_the_day_add_up_to_the_day(city: dict[str, Any]) -> None:
    plan = plan_day(city, COUNTS, profile="flat")
    parts = [plan.counts(h * 3600, (h + 6) * 3600) for h in (0, 6, 12, 18)]
    assert {k: sum(p[k] for p in parts) for k in parts[0]} == plan.counts()


def test_the_diurnal_day_is_busier_at_ten_than_at_four(city: dict[str, Any]) -> None:
    plan = plan_day(city, DayCounts(3_000, 7_500, 20, 5, 4))
    assert plan.counts(10 * 3600, 11 * 3600)["tickets"] > \
        4 * plan.counts(4 * 3600, 5 * 3600)["tickets"]


def test_catalogue_changes_fall_in_office_hours_on_distinct_district_rules(
        city: dict[str, Any]) -> None:
    changes = plan_day(city, DayCounts(600, 1_500, 20, 30, 4)).changes
    assert len({c.rule_id for c in changes}) == 30
    assert all(8.5 * 3600 <= c.at <= 18 * 3600 for c in changes)
    rules = {r["id"]: r for r in city["rules"]}
    assert all(rules[c.rule_id]["area"] is not None for c in changes)
    assert all(set(c.body) in ({"basis"}, {"co_handlers"}) for c in changes)


def test_counts_that_no_mix_of_lives_can_hold_are_refused(city: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="do not fit"):
        plan_day(city, DayCounts(tickets=100, events=1_000, disputes=2, changes=0, rulings=0))
    with pytest.raises(ValueError, match="rulings"):
        plan_day(city, DayCounts(tickets=100, events=250, disputes=2, changes=0, rulings=3))


def test_events_are_every_step_but_the_route_and_the_dispute_work() -> None:
    assert {op for life in LIVES.values() for op in life} - NOT_EVENTS == {
        "dispatched", "signed", "completed", "return_requested", "return_rejected",
        "return_upheld", "reassigned", "signed@b", "completed@b", "return_requested@b",
        "reassigned@a"}
