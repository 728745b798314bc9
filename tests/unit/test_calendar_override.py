"""The district's calendar override (issue 8 §1) and policy values checked for meaning (issue 9
§4): a year the holiday library does not know is entered by the district, deadlines counted
over an unknown year are provisional, and any policy that is accepted keeps deadlines and
ticket histories computable."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbitration.calendar import (
    LIBRARY,
    add_working_days,
    is_provisional,
    library_years,
    missing_years,
    working_days_between,
)
from arbitration.disputes import claim, open_dispute, retime
from arbitration.policy import (
    DEFAULT_POLICY,
    MAX_WINDOW_WORKING_DAYS,
    Policy,
    calendar_as_dict,
    calendar_from_dict,
)
from arbitration.tickets import (
    Event,
    TicketState,
    apply,
    is_return_deadline_provisional,
    replay,
    return_deadline,
)
from jurisdiction.errors import InvalidInput
from tests.unit.test_arbitration_domain import at

#: An illustrative override for 2027 (not the State Council's notice, which is not out yet):
#: New Year's Day off, and a Spring Festival week with a Sunday worked in lieu.
ILLUSTRATIVE_2027 = {"years": [2027],
                     "holidays": ["2027-01-01", "2027-02-08", "2027-02-09", "2027-02-10"],
                     "working_days": ["2027-02-07"]}
FIRST_UNKNOWN = library_years()[1] + 1


def test_the_library_stops_before_2027_so_the_tests_below_mean_something() -> None:
    assert FIRST_UNKNOWN <= 2027
    assert not LIBRARY.covers_year(2027)


# -- the calendar value --------------------------------------------------------------------------


def test_without_an_override_2027_is_counted_monday_to_friday_and_new_years_day_is_worked(
        ) -> None:
    assert LIBRARY.is_working_day(date(2027, 1, 1))  # a Friday
    assert add_working_days(at("2026-12-31 10:00"), 1) == at("2027-01-01 10:00")


def test_an_override_makes_its_holidays_days_off_and_its_working_days_worked() -> None:
    cal = calendar_from_dict(ILLUSTRATIVE_2027)
    assert not cal.is_working_day(date(2027, 1, 1))
    assert not cal.is_working_day(date(2027, 2, 9))
    assert cal.is_working_day(date(2027, 2, 7))  # a Sunday worked in lieu
    assert cal.is_working_day(date(2027, 1, 4))  # a Monday in neither list
    assert not cal.is_working_day(date(2027, 1, 2))  # a Saturday in neither list
    assert add_working_days(at("2026-12-31 10:00"), 1, calendar=cal) == at("2027-01-04 10:00")
    # Friday 5 February: the next working days are Sunday 7th, then Thursday 11th.
    assert add_working_days(at("2027-02-05 10:00"), 1, calendar=cal) == at("2027-02-07 10:00")
    assert add_working_days(at("2027-02-05 10:00"), 2, calendar=cal) == at("2027-02-11 10:00")
    assert working_days_between(at("2027-02-05 10:00"), at("2027-02-11 10:00"),
                                calendar=cal) == 2


def test_override_dates_win_over_the_library_in_a_year_it_knows() -> None:
    cal = calendar_from_dict({"holidays": ["2026-11-23"], "working_days": ["2026-10-03"]})
    assert LIBRARY.is_working_day(date(2026, 11, 23))
    assert not cal.is_working_day(date(2026, 11, 23))
    assert not LIBRARY.is_working_day(date(2026, 10, 3))
    assert cal.is_working_day(date(2026, 10, 3))
    assert cal.is_working_day(date(2026, 10, 9))  # other dates keep the library's answer
    assert not cal.is_working_day(date(2026, 10, 1))


def test_a_year_is_covered_by_the_library_or_the_override_years_only() -> None:
    dates_only = calendar_from_dict({"holidays": ["2027-01-01"]})
    assert not dates_only.covers_year(2027)  # some dates are not the whole year
    assert calendar_from_dict({"years": [2027]}).covers_year(2027)
    assert LIBRARY.covers_year(2026)


def test_a_deadline_counted_over_an_unknown_year_is_provisional() -> None:
    cal = calendar_from_dict(ILLUSTRATIVE_2027)
    assert is_provisional(at("2026-12-31 10:00"), at("2027-01-01 10:00"))
    assert not is_provisional(at("2026-12-31 10:00"), at("2027-01-04 10:00"), calendar=cal)
    assert not is_provisional(at("2026-12-29 10:00"), at("2026-12-31 10:00"))
    # Counted in the district's time zone: 16:30 UTC on 31 December is already 2027 in Beijing.
    late = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)
    assert is_provisional(late, late)
    assert not is_provisional(late, late, tz="UTC")
    assert is_provisional(at("2028-01-03 10:00"), at("2028-01-04 10:00"), calendar=cal)


def test_verify_asks_for_next_year_from_the_first_of_november() -> None:
    assert missing_years(date(2026, 10, 31)) == []
    assert missing_years(date(2026, 11, 1)) == [2027]
    assert missing_years(date(2026, 11, 30)) == [2027]
    assert missing_years(date(2027, 3, 1)) == [2027]  # the year itself, all year long
    covered = calendar_from_dict({"years": [2027]})
    assert missing_years(date(2026, 11, 30), covered) == []
    assert missing_years(date(2027, 11, 1), covered) == [2028]


def test_a_pinned_library_counts_later_years_monday_to_friday() -> None:
    pinned = LIBRARY.pinned(2025)
    assert not LIBRARY.is_working_day(date(2026, 10, 1))
    assert pinned.is_working_day(date(2026, 10, 1))  # a Thursday, as an older library saw it
    assert not pinned.covers_year(2026) and pinned.covers_year(2025)
    assert calendar_from_dict({"years": [2026]}).pinned(2025).covers_year(2026)


# -- deadlines of tickets and disputes -----------------------------------------------------------


def test_a_return_deadline_over_new_years_day_is_provisional_without_the_override() -> None:
    dispatched = apply(TicketState("T1"),
                       Event("dispatched", at("2026-12-31 10:00"), unit="D-CG")).state
    assert return_deadline(dispatched) == at("2027-01-01 10:00")
    assert is_return_deadline_provisional(dispatched)
    known = Policy.from_dict({"calendar": ILLUSTRATIVE_2027})
    assert return_deadline(dispatched, known) == at("2027-01-04 10:00")
    assert not is_return_deadline_provisional(dispatched, known)


def test_minute_windows_never_make_a_deadline_provisional() -> None:
    assert DEFAULT_POLICY.sign_in_deadline(at("2026-12-31 23:50"), "danger") == at(
        "2027-01-01 00:05")
    assert DEFAULT_POLICY.sign_in_deadline(at("2026-12-31 10:00")) == at("2027-01-01 10:00")


def test_dispute_stage_deadlines_are_provisional_until_the_year_is_known() -> None:
    opened = open_dispute("D1", parties=["A", "B"], reason="manual",
                          opened_at=at("2026-12-30 10:00"))
    assert opened.stage_deadline == at("2027-01-01 10:00")
    assert opened.stage_deadline_provisional
    assert opened.as_dict()["stage_deadline_provisional"] is True
    known = Policy.from_dict({"calendar": ILLUSTRATIVE_2027})
    firm = open_dispute("D2", parties=["A"], reason="manual",
                        opened_at=at("2026-12-30 10:00"), policy=known)
    assert (firm.stage_deadline, firm.stage_deadline_provisional) == (
        at("2027-01-04 10:00"), False)
    claimed = claim(opened, "ann", at("2026-12-30 11:00"))
    assert claimed.stage_deadline == at("2027-01-06 11:00")
    assert claimed.stage_deadline_provisional
    assert claim(firm, "ann", at("2026-12-30 11:00"), known).stage_deadline == at(
        "2027-01-07 11:00")
    retimed = retime(claimed, known)
    assert (retimed.stage_deadline, retimed.stage_deadline_provisional) == (
        at("2027-01-07 11:00"), False)
    assert retime(firm, DEFAULT_POLICY) == firm  # a firm deadline does not move


# -- validation: meaning, not only type ----------------------------------------------------------


@pytest.mark.parametrize(("data", "field"), [
    ({"return_windows": {"standard": 1e9}}, "return_windows.standard"),
    ({"return_windows": {"standard": math.nan}}, "return_windows.standard"),
    ({"return_windows": {"standard": 10 ** 400}}, "return_windows.standard"),
    ({"dispute_deadlines": {"open": math.inf, "under_review": 5}}, "dispute_deadlines.open"),
    ({"sign_in_windows": {"standard": {"minutes": 1e7}}}, "sign_in_windows.standard.minutes"),
    ({"sign_in_windows": {"standard": 61}}, "sign_in_windows.standard"),
    ({"bounce_cap": math.nan}, "bounce_cap"),
    ({"bounce_cap": 10 ** 9}, "bounce_cap"),
    ({"default_tier": ["standard"]}, "default_tier"),
    ({"default_urgency": {"x": 1}}, "default_urgency"),
    ({"reason_codes": {"other": "很" * 41}}, "reason_codes.other"),
    ({"reason_codes": {"x" * 41: "其他"}}, "reason_codes." + "x" * 41),
    ({"tz": "Not/AZone"}, "tz"),
    ({"tz": ""}, "tz"),
    ({"calendar": []}, "calendar"),
    ({"calendar": {"year": [2027]}}, "calendar.year"),
    ({"calendar": {"years": 2027}}, "calendar.years"),
    ({"calendar": {"years": [1e9]}}, "calendar.years[0]"),
    ({"calendar": {"years": [2027, 3000]}}, "calendar.years[1]"),
    ({"calendar": {"years": [True]}}, "calendar.years[0]"),
    ({"calendar": {"years": list(range(2000, 2030))}}, "calendar.years"),
    ({"calendar": {"holidays": ["2027-02-30"]}}, "calendar.holidays[0]"),
    ({"calendar": {"holidays": ["2027-01-01", "20270102"]}}, "calendar.holidays[1]"),
    ({"calendar": {"holidays": "2027-01-01"}}, "calendar.holidays"),
    ({"calendar": {"holidays": ["9999-01-01"]}}, "calendar.holidays[0]"),
    ({"calendar": {"holidays": ["2027-01-01"] * 1001}}, "calendar.holidays"),
    ({"calendar": {"holidays": ["2027-02-07"], "working_days": ["2027-02-08", "2027-02-07"]}},
     "calendar.working_days[1]"),
])
def test_a_policy_value_that_would_break_the_service_is_refused_naming_its_field(
        data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        Policy.from_dict(data)
    assert exc.value.code == "invalid_policy"
    assert exc.value.context["field"] == field
    # The error's context goes into problem+json: it must be JSON (no NaN).
    json.dumps(exc.value.context, allow_nan=False)


def test_an_override_round_trips_sorted_and_without_duplicates() -> None:
    p = Policy.from_dict({"calendar": {"years": [2028, 2027, 2027],
                                       "holidays": ["2027-02-08", "2027-01-01", "2027-01-01"],
                                       "working_days": ["2027-02-07"]}})
    assert p.as_dict()["calendar"] == {"years": [2027, 2028],
                                       "holidays": ["2027-01-01", "2027-02-08"],
                                       "working_days": ["2027-02-07"]}
    assert Policy.from_dict(p.as_dict()) == p
    assert calendar_as_dict(DEFAULT_POLICY.calendar) == {"years": [], "holidays": [],
                                                         "working_days": []}
    # A policy stored before the override existed reads as the library alone.
    old = {k: v for k, v in DEFAULT_POLICY.as_dict().items() if k != "calendar"}
    assert Policy.from_dict(old) == DEFAULT_POLICY


# -- the property: whatever is accepted keeps deadlines and histories working --------------------

def _mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any],
            odds: int = 5) -> st.SearchStrategy[Any]:
    """``bad`` once in ``odds``, else ``good``: most examples are accepted and exercised."""
    return st.integers(1, odds).flatmap(lambda i: bad if i == 1 else good)


_numbers = _mostly(
    st.one_of(st.floats(min_value=0.01, max_value=MAX_WINDOW_WORKING_DAYS),
              st.integers(min_value=1, max_value=MAX_WINDOW_WORKING_DAYS)),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 0),
              st.just(MAX_WINDOW_WORKING_DAYS + 1), st.just(10 ** 12), st.just(1e9),
              st.booleans(), st.text(max_size=3), st.none()), odds=12)
_codes = _mostly(st.sampled_from(["standard", "complex", "urgent"]),
                 st.sampled_from(["Bad Code", "x" * 41, ""]))
_dates = _mostly(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)).map(date.isoformat),
    st.sampled_from(["2027-13-01", "20270101", "1999-12-31", "2101-01-01", "", "2027-1-1"]))
_calendar = st.fixed_dictionaries({}, optional={
    "years": st.lists(_mostly(st.integers(2000, 2100), st.integers(1900, 2200)), max_size=4),
    "holidays": st.lists(st.one_of(_dates, st.just("2027-01-01")), max_size=8),
    "working_days": st.lists(st.one_of(_dates, st.just("2027-01-01")), max_size=4),
})
POLICIES = st.fixed_dictionaries({}, optional={
    "return_windows": _mostly(
        st.fixed_dictionaries({"standard": _numbers}, optional={"complex": _numbers}),
        st.dictionaries(_codes, _numbers, max_size=3)),
    "default_tier": _mostly(st.just("standard"), _codes),
    "sign_in_windows": _mostly(
        st.fixed_dictionaries({"standard": st.one_of(
            _numbers, st.builds(lambda n: {"working_days": n}, _numbers))},
            optional={"danger": st.builds(lambda n: {"minutes": n}, _numbers)}),
        st.dictionaries(_codes, st.one_of(_numbers, st.builds(lambda n: {"hours": n},
                                                               _numbers)), max_size=2)),
    "bounce_cap": _mostly(st.integers(2, 20), _numbers),
    "dispute_deadlines": st.fixed_dictionaries({"open": _numbers, "under_review": _numbers}),
    "interim_order": _mostly(st.sampled_from([["territorial_unit"], ["first_receiver"],
                                              ["territorial_unit", "first_receiver"]]),
                             st.sampled_from([[], ["x"], "first_receiver"])),
    "tz": _mostly(st.sampled_from(["Asia/Shanghai", "UTC", "Pacific/Kiritimati",
                                   "America/Adak"]),
                  st.sampled_from(["Not/AZone", "", "../etc/passwd", "x" * 65])),
    "calendar": _calendar,
})
MOMENTS = st.datetimes(min_value=datetime(2004, 1, 1), max_value=datetime(2099, 12, 1),
                       timezones=st.just(UTC))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(POLICIES, MOMENTS)
def test_any_accepted_policy_keeps_deadlines_and_ticket_histories_working(
        data: dict[str, Any], moment: datetime) -> None:
    try:
        policy = Policy.from_dict(data)
    except InvalidInput as exc:
        assert exc.code == "invalid_policy" and isinstance(exc.context["field"], str)
        json.dumps(exc.context, allow_nan=False)
        return
    stored = json.loads(json.dumps(policy.as_dict(), allow_nan=False))
    assert Policy.from_dict(stored) == policy
    for tier in policy.return_windows:
        deadline = policy.return_deadline(moment, tier)
        assert moment <= deadline < moment + timedelta(days=366)
        policy.is_provisional(moment, deadline)
    for urgency in policy.sign_in_windows:
        assert policy.sign_in_deadline(moment, urgency) >= moment
    for stage in policy.dispute_deadlines:
        assert policy.dispute_deadline(stage, moment) >= moment
    # A ticket's life under it: dispatched, returned at the last moment, upheld, re-dispatched,
    # bounced back (a dispute opens), designated, signed, completed.
    t = moment
    last = return_deadline(replay([Event("dispatched", t, unit="A")], policy), policy)
    assert last is not None
    history = [Event("dispatched", t, unit="A"),
               Event("return_requested", last, unit="A", reason_code=next(
                   iter(policy.reason_codes)), basis="职责清单"),
               Event("return_upheld", last), Event("reassigned", last, to_unit="B"),
               Event("signed", last, unit="B"), Event("completed", last, unit="B")]
    state = replay(history, policy, ticket_id="T", territorial_unit="C")
    assert state.status.value == "completed"
    opened = open_dispute("D", parties=["A", "B"], reason="manual", opened_at=moment,
                          policy=policy)
    assert retime(claim(opened, "ann", moment, policy), policy).stage_deadline is not None
