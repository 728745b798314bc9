"""The pure arbitration domain: working days on the Chinese holiday calendar (调休 included),
the district's process policy as data, the ticket state machine (returns, bounces, the bounce
cap, the interim owner) and the dispute lifecycle (domain.md §5)."""

from __future__ import annotations

import dataclasses
import doctest
from datetime import date, datetime, timedelta
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbitration import calendar as workdays
from arbitration import disputes, policy, tickets
from arbitration.disputes import (
    DisputeStatus,
    add_statement,
    can_rule,
    claim,
    deadline_for,
    is_overdue,
    open_dispute,
    record_ruling,
    withdraw,
)
from arbitration.policy import DEFAULT_POLICY, Policy, Window
from arbitration.tickets import (
    Event,
    OpenDispute,
    TicketState,
    TicketStatus,
    apply,
    is_accepted,
    replay,
    return_deadline,
)
from jurisdiction.errors import Conflict, InvalidInput


def at(text: str) -> datetime:
    """A Beijing-time moment from ``YYYY-MM-DD HH:MM``."""
    return datetime.fromisoformat(text.replace(" ", "T") + "+08:00")


# -- calendar --------------------------------------------------------------------------------


@pytest.mark.parametrize("day", ["2025-10-01", "2025-10-03", "2025-10-06", "2025-10-08",
                                 "2026-10-01", "2026-10-05", "2026-10-07",
                                 "2025-01-28", "2025-02-04",
                                 "2026-02-15", "2026-02-18", "2026-02-23"])
def test_national_day_and_spring_festival_holidays_are_not_working_days(day: str) -> None:
    assert not workdays.is_working_day(date.fromisoformat(day))


@pytest.mark.parametrize("day", ["2025-09-28", "2025-10-11", "2025-01-26", "2025-02-08",
                                 "2026-02-14", "2026-02-28", "2026-09-20", "2026-10-10"])
def test_adjusted_weekend_days_are_working_days(day: str) -> None:
    d = date.fromisoformat(day)
    assert d.weekday() >= 5
    assert workdays.is_working_day(d)


def test_ordinary_weekends_are_not_working_days_and_weekdays_are() -> None:
    assert not workdays.is_working_day(date(2026, 11, 21))
    assert not workdays.is_working_day(date(2026, 11, 22))
    assert workdays.is_working_day(date(2026, 11, 23))


def test_a_year_the_calendar_does_not_know_falls_back_to_monday_to_friday() -> None:
    monday, saturday = date(2199, 1, 7), date(2199, 1, 5)
    assert not workdays.is_calendar_known(monday)
    assert workdays.is_calendar_known(date(2026, 1, 5))
    assert workdays.is_working_day(monday)
    assert not workdays.is_working_day(saturday)


def test_a_working_day_deadline_keeps_the_time_of_day() -> None:
    assert workdays.add_working_days(at("2026-11-23 11:00"), 1) == at("2026-11-24 11:00")
    assert workdays.add_working_days(at("2026-11-23 11:00"), 3) == at("2026-11-26 11:00")


def test_a_deadline_skips_the_weekend() -> None:
    assert workdays.add_working_days(at("2026-11-20 17:30"), 1) == at("2026-11-23 17:30")


def test_a_deadline_skips_national_day_2025() -> None:
    assert workdays.add_working_days(at("2025-09-30 10:00"), 1) == at("2025-10-09 10:00")
    assert workdays.add_working_days(at("2025-09-30 10:00"), 2) == at("2025-10-10 10:00")


def test_a_deadline_lands_on_an_adjusted_saturday() -> None:
    # 2025-10-10 is a Friday; Saturday 11 October 2025 is worked in lieu (调休).
    assert workdays.add_working_days(at("2025-10-10 09:00"), 1) == at("2025-10-11 09:00")
    # 2026-02-13 is the Friday before the Spring Festival; Saturday 14 February is worked.
    assert workdays.add_working_days(at("2026-02-13 10:00"), 1) == at("2026-02-14 10:00")


def test_a_deadline_skips_the_2026_spring_festival() -> None:
    assert workdays.add_working_days(at("2026-02-13 10:00"), 2) == at("2026-02-24 10:00")


def test_a_deadline_skips_national_day_2026_and_counts_its_adjusted_saturday() -> None:
    assert workdays.add_working_days(at("2026-09-30 09:00"), 1) == at("2026-10-08 09:00")
    assert workdays.add_working_days(at("2026-10-09 09:00"), 1) == at("2026-10-10 09:00")


def test_a_start_on_a_holiday_counts_from_the_next_working_days_midnight() -> None:
    assert workdays.add_working_days(at("2025-10-04 15:00"), 1) == at("2025-10-10 00:00")
    assert workdays.add_working_days(at("2026-11-21 15:00"), 1) == at("2026-11-24 00:00")
    assert workdays.add_working_days(at("2026-11-21 15:00"), 0) == at("2026-11-23 00:00")


def test_zero_working_days_on_a_working_day_is_the_start_itself() -> None:
    assert workdays.add_working_days(at("2026-11-23 11:00"), 0) == at("2026-11-23 11:00")


def test_half_a_working_day_is_twelve_working_hours() -> None:
    assert workdays.add_working_days(at("2026-11-20 18:00"), 0.5) == at("2026-11-23 06:00")


def test_times_in_other_zones_are_counted_in_local_working_days() -> None:
    # 2026-11-20 23:00 UTC is Saturday 07:00 in Shanghai: counting starts Monday 00:00.
    utc = datetime.fromisoformat("2026-11-20T23:00:00+00:00")
    deadline = workdays.add_working_days(utc, 1)
    assert deadline == at("2026-11-24 00:00")
    assert deadline.utcoffset() == timedelta(hours=8)


def test_a_naive_time_is_read_as_local_time() -> None:
    assert workdays.add_working_days(datetime(2026, 11, 23, 11), 1) == at("2026-11-24 11:00")


def test_minute_windows_count_calendar_time_through_holidays() -> None:
    assert workdays.add_minutes(at("2025-10-01 23:50"), 15) == at("2025-10-02 00:05")
    assert workdays.add_minutes(at("2026-02-15 08:00"), 30) == at("2026-02-15 08:30")


def test_negative_or_absurd_amounts_are_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        workdays.add_working_days(at("2026-11-23 11:00"), -1)
    assert exc.value.code == "invalid_working_days"
    assert exc.value.context["field"] == "n"
    with pytest.raises(InvalidInput):
        workdays.add_working_days(at("2026-11-23 11:00"), float("nan"))
    with pytest.raises(InvalidInput) as exc:
        workdays.add_minutes(at("2026-11-23 11:00"), -5)
    assert exc.value.code == "invalid_minutes"


def test_an_unknown_time_zone_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as exc:
        workdays.add_working_days(at("2026-11-23 11:00"), 1, tz="Mars/Olympus")
    assert exc.value.code == "invalid_timezone"
    assert exc.value.context["field"] == "tz"


def test_working_days_between_skips_holidays_and_counts_adjusted_weekends() -> None:
    assert workdays.working_days_between(at("2025-09-30 10:00"), at("2025-10-09 10:00")) == 1
    assert workdays.working_days_between(at("2026-02-13 00:00"), at("2026-02-25 00:00")) == 3
    assert workdays.working_days_between(at("2026-11-23 12:00"), at("2026-11-23 00:00")) == -0.5
    assert workdays.working_days_between(at("2026-11-21 00:00"), at("2026-11-23 00:00")) == 0


@settings(database=None, max_examples=150, deadline=None)
@given(start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 20)),
       n=st.integers(min_value=0, max_value=20))
def test_working_days_between_inverts_add_working_days(start: datetime, n: int) -> None:
    start = start.replace(microsecond=0)
    deadline = workdays.add_working_days(start, n)
    begin = workdays.to_local(start)
    if not workdays.is_working_day(begin.date()):
        begin = datetime.combine(workdays.next_working_day(begin.date()), datetime.min.time(),
                                 tzinfo=begin.tzinfo)
    assert workdays.working_days_between(begin, deadline) == pytest.approx(n)
    assert deadline >= begin


# -- policy ----------------------------------------------------------------------------------


def test_the_default_policy_carries_tianjins_numbers() -> None:
    p = DEFAULT_POLICY
    assert p.reason_codes == {
        "territory_mismatch": "属地不符", "ownership_unclear": "权属不清",
        "function_overlap": "职能交叉", "not_government_duty": "非政府职责",
        "not_acceptable": "不予受理", "other": "其他"}
    assert p.return_window() == 1
    assert p.return_window("standard") == 1
    assert p.return_window("complex") == 2
    assert p.sign_in_windows["danger"] == Window(15, "minutes")
    assert p.sign_in_windows["utility"] == Window(30, "minutes")
    assert p.sign_in_windows["standard"] == Window(1, "working_days")
    assert p.bounce_cap == 3
    assert p.dispute_deadlines == {"open": 2, "under_review": 5}
    assert p.tz == "Asia/Shanghai"


def test_sign_in_deadlines_follow_urgency() -> None:
    start = at("2026-09-30 16:00")
    assert DEFAULT_POLICY.sign_in_deadline(start, "danger") == at("2026-09-30 16:15")
    assert DEFAULT_POLICY.sign_in_deadline(start, "utility") == at("2026-09-30 16:30")
    assert DEFAULT_POLICY.sign_in_deadline(start) == at("2026-10-08 16:00")


def test_unknown_tier_urgency_and_reason_are_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as exc:
        DEFAULT_POLICY.return_window("urgent")
    assert (exc.value.code, exc.value.context["field"]) == ("invalid_tier", "tier")
    with pytest.raises(InvalidInput) as exc:
        DEFAULT_POLICY.sign_in_deadline(at("2026-09-30 16:00"), "soon")
    assert (exc.value.code, exc.value.context["field"]) == ("invalid_urgency", "urgency")
    with pytest.raises(InvalidInput) as exc:
        DEFAULT_POLICY.reason_label("lazy")
    assert (exc.value.code, exc.value.context["field"]) == ("invalid_reason_code", "reason_code")


def test_a_policy_round_trips_through_a_dict() -> None:
    data = DEFAULT_POLICY.as_dict()
    assert data["sign_in_windows"]["danger"] == {"minutes": 15}
    assert Policy.from_dict(data) == DEFAULT_POLICY
    assert Policy.from_dict({}) == DEFAULT_POLICY


def test_a_partial_policy_keeps_the_defaults_it_does_not_name() -> None:
    p = Policy.from_dict({"bounce_cap": 4, "return_windows": {"standard": 1, "complex": 3},
                          "sign_in_windows": {"standard": 2, "danger": {"minutes": 10}}})
    assert p.bounce_cap == 4
    assert p.return_window("complex") == 3
    assert p.sign_in_windows["standard"] == Window(2, "working_days")
    assert p.sign_in_windows["danger"] == Window(10, "minutes")
    assert p.dispute_deadlines == DEFAULT_POLICY.dispute_deadlines


@pytest.mark.parametrize(("data", "field"), [
    ({"bounce_limit": 3}, "bounce_limit"),
    ({"bounce_cap": 1}, "bounce_cap"),
    ({"bounce_cap": True}, "bounce_cap"),
    ({"bounce_cap": "3"}, "bounce_cap"),
    ({"return_windows": {"standard": 0}}, "return_windows.standard"),
    ({"return_windows": {"complex": 2}}, "default_tier"),
    ({"return_windows": {}}, "return_windows"),
    ({"return_windows": {"Complex": 2}}, "return_windows.Complex"),
    ({"reason_codes": {"other": ""}}, "reason_codes.other"),
    ({"sign_in_windows": {"standard": {"hours": 2}}}, "sign_in_windows.standard"),
    ({"sign_in_windows": {"standard": {"minutes": -2}}}, "sign_in_windows.standard.minutes"),
    ({"sign_in_windows": {"danger": {"minutes": 15}}}, "default_urgency"),
    ({"dispute_deadlines": {"open": 2}}, "dispute_deadlines.under_review"),
    ({"dispute_deadlines": {"open": 2, "under_review": 5, "ruled": 1}},
     "dispute_deadlines.ruled"),
    ({"interim_order": ["owner"]}, "interim_order"),
    ({"interim_order": "first_receiver"}, "interim_order"),
    ({"tz": "Mars/Olympus"}, "tz"),
])
def test_an_invalid_policy_is_refused_naming_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        Policy.from_dict(data)
    assert exc.value.code == "invalid_policy"
    assert exc.value.context["field"] == field
    assert field in exc.value.message


def test_a_policy_cannot_be_changed_in_place() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_POLICY.bounce_cap = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        DEFAULT_POLICY.return_windows["standard"] = 9  # type: ignore[index]


# -- tickets ---------------------------------------------------------------------------------

T0 = at("2026-11-23 09:00")  # a Monday


def ev(kind: str, when: datetime = T0, **fields: Any) -> Event:
    return Event(kind, when, **fields)


def ret(unit: str, when: datetime = T0, **fields: Any) -> Event:
    fields.setdefault("reason_code", "territory_mismatch")
    fields.setdefault("basis", "《示范区街道履职事项清单》")
    return Event("return_requested", when, unit=unit, **fields)


def run(*events: Event, state: TicketState | None = None, p: Policy = DEFAULT_POLICY,
        territorial_unit: str | None = None) -> tuple[TicketState, tuple[OpenDispute, ...]]:
    """Apply events in turn; the final state and every effect emitted on the way."""
    s = state or TicketState("T20261123-0001", category="030101", area="110199001")
    effects: tuple[OpenDispute, ...] = ()
    for e in events:
        out = apply(s, e, p, territorial_unit=territorial_unit)
        s, effects = out.state, effects + out.effects
    return s, effects


def bounce_back(first: str, second: str) -> list[Event]:
    """first returns, the hotline sends it to second, second returns too."""
    return [ev("dispatched", unit=first), ret(first), ev("return_upheld"),
            ev("reassigned", to_unit=second), ret(second), ev("return_upheld")]


def test_the_first_dispatch_makes_the_first_receiver_and_the_owner() -> None:
    s, effects = run(ev("dispatched", unit="D-CG"))
    assert (s.owner, s.first_receiver, s.status) == ("D-CG", "D-CG", TicketStatus.DISPATCHED)
    assert (s.dispatch_count, s.path, s.accepted) == (1, ("D-CG",), False)
    assert s.holder == "D-CG"
    assert effects == ()


def test_sign_in_by_the_owner_accepts_the_ticket() -> None:
    s, _ = run(ev("dispatched", unit="D-CG"), ev("signed", unit="D-CG"))
    assert s.status is TicketStatus.SIGNED
    assert s.accepted


def test_sign_in_without_a_unit_is_the_owners() -> None:
    s, _ = run(ev("dispatched", unit="D-CG"), ev("signed"))
    assert s.status is TicketStatus.SIGNED


def test_a_second_sign_in_is_refused() -> None:
    s, _ = run(ev("dispatched", unit="D-CG"), ev("signed", unit="D-CG"))
    with pytest.raises(Conflict) as exc:
        apply(s, ev("signed", unit="D-CG"))
    assert exc.value.code == "already_signed"


def test_sign_in_by_a_unit_that_is_not_the_owner_is_refused() -> None:
    s, _ = run(ev("dispatched", unit="D-CG"))
    with pytest.raises(Conflict) as exc:
        apply(s, ev("signed", unit="JD-HP"))
    assert exc.value.code == "not_owner"
    assert exc.value.context["owner"] == "D-CG"


def test_sign_in_before_any_dispatch_is_refused() -> None:
    with pytest.raises(Conflict) as exc:
        run(ev("signed", unit="D-CG"))
    assert exc.value.code == "not_dispatched"


def test_a_return_in_time_is_pending_and_leaves_the_owner() -> None:
    s, _ = run(ev("dispatched", unit="D-CG"),
               ret("D-CG", at("2026-11-23 11:00"), proposed_unit="JD-HP", note="属地管理"))
    assert s.status is TicketStatus.RETURN_PENDING
    assert s.owner == "D-CG"
    assert s.pending_return is not None
    assert s.pending_return.unit == "D-CG"
    assert s.pending_return.reason_code == "territory_mismatch"
    assert s.pending_return.proposed_unit == "JD-HP"
    assert s.pending_return.at == at("2026-11-23 11:00")


def test_a_return_without_basis_is_refused_naming_the_field() -> None:
    s, _ = run(ev("dispatched", unit="D-CG"))
    for basis in (None, "  "):
        with pytest.raises(InvalidInput) as exc:
            apply(s, ret("D-CG", basis=basis))
        assert exc.value.context["field"] == "basis"


@pytest.mark.parametrize("code", ["lazy", None, ""])
def test_a_return_with_an_unknown_reason_code_is_refused(code: str | None) -> None:
    s, _ = run(ev("dispatched", unit="D-CG"))
    with pytest.raises(InvalidInput) as exc:
        apply(s, ret("D-CG", reason_code=code))
    assert exc.value.code == "invalid_reason_code"
    assert exc.value.context["field"] == "reason_code"


def test_a_return_by_a_unit_that_is_not_the_owner_is_refused() -> None:
    s, _ = run(ev("dispatched", unit="D-CG"))
    with pytest.raises(Conflict) as exc:
        apply(s, ret("JD-HP"))
    assert exc.value.code == "not_owner"


def test_a_late_return_is_refused_and_the_ticket_counts_as_accepted() -> None:
    s, _ = run(ev("dispatched", at("2025-09-30 10:00"), unit="D-CG"))
    # The window spans National Day 2025: a return on the 8th is still in time ...
    pending, _ = run(ret("D-CG", at("2025-10-08 18:00")), state=s)
    assert pending.status is TicketStatus.RETURN_PENDING
    # ... and one after 10:00 on the 9th is not.
    with pytest.raises(Conflict) as exc:
        apply(s, ret("D-CG", at("2025-10-09 10:01")))
    err = exc.value
    assert err.code == "return_window_passed"
    assert err.context["deadline"] == "2025-10-09T10:00:00+08:00"
    assert "accepted" in err.message
    assert "2025-10-09T10:00:00+08:00" in err.message
    assert return_deadline(s) == at("2025-10-09 10:00")
    assert is_accepted(s, at("2025-10-09 10:01"))
    assert not is_accepted(s, at("2025-10-09 10:00"))


def test_a_complex_dispatch_gives_two_working_days_to_return() -> None:
    s, _ = run(ev("dispatched", at("2026-11-20 10:00"), unit="D-CG", tier="complex"))
    assert return_deadline(s) == at("2026-11-24 10:00")
    pending, _ = run(ret("D-CG", at("2026-11-24 09:00")), state=s)
    assert pending.status is TicketStatus.RETURN_PENDING


def test_a_dispatch_with_an_unknown_tier_is_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        run(ev("dispatched", unit="D-CG", tier="huge"))
    assert exc.value.code == "invalid_tier"


def test_the_return_window_follows_the_policy() -> None:
    p = Policy.from_dict({"return_windows": {"standard": 3}})
    s, _ = run(ev("dispatched", unit="D-CG"), p=p)
    assert return_deadline(s, p) == at("2026-11-26 09:00")
    pending, _ = run(ret("D-CG", at("2026-11-25 12:00")), state=s, p=p)
    assert pending.status is TicketStatus.RETURN_PENDING


def test_a_signed_ticket_can_no_longer_be_returned() -> None:
    s, _ = run(ev("dispatched", unit="D-CG"), ev("signed", unit="D-CG"))
    with pytest.raises(Conflict) as exc:
        apply(s, ret("D-CG"))
    assert exc.value.code == "ticket_accepted"


def test_a_rejected_return_sends_the_ticket_back_accepted() -> None:
    s, _ = run(ev("dispatched", unit="D-CG"), ret("D-CG"), ev("return_rejected", note="依清单"))
    assert (s.status, s.owner, s.accepted) == (TicketStatus.DISPATCHED, "D-CG", True)
    assert s.pending_return is None
    assert s.returned_by == ()
    with pytest.raises(Conflict) as exc:
        apply(s, ret("D-CG"))
    assert exc.value.code == "ticket_accepted"
    signed, _ = run(ev("signed", unit="D-CG"), state=s)
    assert signed.status is TicketStatus.SIGNED


def test_an_upheld_return_leaves_the_ticket_with_its_interim_owner_until_reassigned() -> None:
    s, _ = run(ev("dispatched", unit="D-CG"), ret("D-CG", proposed_unit="JD-HP"),
               ev("return_upheld"))
    assert s.owner is None
    assert s.interim_owner == "D-CG"  # 首接负责: the first receiver keeps it moving
    assert s.holder == "D-CG"
    assert s.returned_by == ("D-CG",)
    assert s.status is TicketStatus.DISPATCHED
    s, effects = run(ev("reassigned", to_unit="JD-HP"), state=s)
    assert (s.owner, s.interim_owner, s.holder) == ("JD-HP", None, "JD-HP")
    assert (s.dispatch_count, s.path, s.first_receiver) == (2, ("D-CG", "JD-HP"), "D-CG")
    assert effects == ()


def test_the_interim_owner_after_a_second_upheld_return_is_still_the_first_receiver() -> None:
    s, _ = run(*bounce_back("D-CG", "JD-HP"))
    assert (s.owner, s.interim_owner, s.returned_by) == (None, "D-CG", ("D-CG", "JD-HP"))


@pytest.mark.parametrize("kind", ["return_upheld", "return_rejected"])
def test_reviewing_a_return_that_was_never_made_is_refused(kind: str) -> None:
    s, _ = run(ev("dispatched", unit="D-CG"))
    with pytest.raises(Conflict) as exc:
        apply(s, ev(kind))
    assert exc.value.code == "no_pending_return"


def test_dispatching_again_while_a_return_is_pending_is_refused() -> None:
    s, _ = run(ev("dispatched", unit="D-CG"), ret("D-CG"))
    with pytest.raises(Conflict) as exc:
        apply(s, ev("reassigned", to_unit="JD-HP"))
    assert exc.value.code == "return_pending"
    with pytest.raises(Conflict) as exc:
        apply(s, ev("signed", unit="D-CG"))
    assert exc.value.code == "return_pending"
    with pytest.raises(Conflict) as exc:
        apply(s, ret("D-CG"))
    assert exc.value.code == "return_pending"


def test_dispatching_to_the_current_owner_is_refused() -> None:
    s, _ = run(ev("dispatched", unit="D-CG"))
    with pytest.raises(Conflict) as exc:
        apply(s, ev("dispatched", unit="D-CG"))
    assert exc.value.code == "already_owner"


def test_a_transfer_counts_as_a_dispatch_and_resets_acceptance() -> None:
    s, _ = run(ev("dispatched", unit="D-CG"), ev("signed", unit="D-CG"),
               ev("reassigned", to_unit="D-SC"))
    assert (s.owner, s.dispatch_count, s.accepted, s.status) == (
        "D-SC", 2, False, TicketStatus.DISPATCHED)


def test_a_ticket_bouncing_back_to_a_unit_that_returned_it_opens_a_dispute() -> None:
    s, effects = run(*bounce_back("D-CG", "JD-HP"), ev("reassigned", to_unit="D-CG"))
    assert len(effects) == 1
    effect = effects[0]
    assert effect.reason == "bounce"
    assert effect.parties == ("D-CG", "JD-HP")
    assert (effect.ticket_id, effect.category, effect.area) == (
        "T20261123-0001", "030101", "110199001")
    assert effect.interim_owner == "D-CG"
    assert s.status is TicketStatus.IN_DISPUTE
    assert (s.owner, s.interim_owner, s.holder) == ("D-CG", "D-CG", "D-CG")
    assert s.path == ("D-CG", "JD-HP", "D-CG")


def test_a_bounce_is_detected_below_the_cap_too() -> None:
    p = Policy.from_dict({"bounce_cap": 10})
    _, effects = run(*bounce_back("D-CG", "JD-HP"), ev("reassigned", to_unit="D-CG"), p=p)
    assert [e.reason for e in effects] == ["bounce"]


def test_the_bounce_cap_opens_a_dispute_when_no_unit_accepts() -> None:
    s, effects = run(*bounce_back("D-CG", "JD-HP"), ev("reassigned", to_unit="D-SC"))
    assert [e.reason for e in effects] == ["bounce_cap"]
    assert effects[0].parties == ("D-CG", "JD-HP", "D-SC")
    assert s.dispatch_count == 3
    assert s.status is TicketStatus.IN_DISPUTE
    assert (s.owner, s.interim_owner) == ("D-SC", "D-CG")


def test_the_bounce_cap_is_policy_data() -> None:
    p = Policy.from_dict({"bounce_cap": 4})
    events = [*bounce_back("D-CG", "JD-HP"), ev("reassigned", to_unit="D-SC")]
    s, effects = run(*events, p=p)
    assert effects == ()
    s, effects = run(ret("D-SC"), ev("return_upheld"), ev("reassigned", to_unit="D-ZJ"),
                     state=s, p=p)
    assert [e.reason for e in effects] == ["bounce_cap"]


def test_an_accepting_unit_resets_the_bounce_cap() -> None:
    s, effects = run(ev("dispatched", unit="D-CG"), ev("signed", unit="D-CG"),
                     ev("reassigned", to_unit="D-SC"), ev("reassigned", to_unit="D-ZJ"))
    assert s.dispatch_count == 3
    assert effects == ()


def test_a_passed_return_window_counts_as_acceptance_for_the_bounce_cap() -> None:
    s, effects = run(ev("dispatched", at("2026-11-23 09:00"), unit="D-CG"),
                     ev("reassigned", at("2026-11-25 09:00"), to_unit="D-SC"),
                     ev("reassigned", at("2026-11-25 10:00"), to_unit="D-ZJ"))
    assert effects == ()
    assert not s.accepted


def test_the_interim_owner_can_be_the_territorial_unit_by_policy() -> None:
    p = Policy.from_dict({"interim_order": ["territorial_unit", "first_receiver"]})
    s, effects = run(*bounce_back("D-CG", "D-ZJ"), ev("reassigned", to_unit="D-CG"), p=p,
                     territorial_unit="JD-HP")
    assert effects[0].interim_owner == "JD-HP"
    assert s.holder == "JD-HP"
    # Without a territorial unit from the caller, the first receiver still holds it.
    s, _ = run(*bounce_back("D-CG", "D-ZJ"), ev("reassigned", to_unit="D-CG"), p=p)
    assert s.interim_owner == "D-CG"


def test_a_dispute_id_is_recorded_and_a_second_one_is_refused() -> None:
    s, _ = run(*bounce_back("D-CG", "JD-HP"), ev("reassigned", to_unit="D-CG"),
               ev("dispute_opened", dispute_id="DSP-1"))
    assert (s.dispute_id, s.status) == ("DSP-1", TicketStatus.IN_DISPUTE)
    with pytest.raises(Conflict) as exc:
        apply(s, ev("dispute_opened", dispute_id="DSP-2"))
    assert exc.value.code == "dispute_already_open"


def test_no_new_dispute_is_emitted_while_one_is_open() -> None:
    s, _ = run(*bounce_back("D-CG", "JD-HP"), ev("reassigned", to_unit="D-CG"))
    with pytest.raises(Conflict) as exc:
        apply(s, ret("D-CG"))
    assert exc.value.code == "ticket_in_dispute"


def test_a_dispatch_during_a_dispute_designates_the_responsible_unit() -> None:
    s, _ = run(*bounce_back("D-CG", "JD-HP"), ev("reassigned", to_unit="D-CG"),
               ev("dispute_opened", dispute_id="DSP-1"))
    s, effects = run(ev("reassigned", to_unit="JD-HP", note="示政办裁〔2026〕3号"), state=s)
    assert effects == ()
    assert (s.owner, s.interim_owner, s.accepted) == ("JD-HP", None, True)
    assert s.status is TicketStatus.DISPATCHED
    assert s.dispute_id == "DSP-1"  # the ticket remembers the dispute it went through
    with pytest.raises(Conflict) as exc:
        apply(s, ret("JD-HP"))
    assert exc.value.code == "ticket_accepted"
    # Recording the dispute's closure afterwards changes nothing.
    closed, _ = run(ev("dispute_closed", dispute_id="DSP-1"), state=s)
    assert closed.status is TicketStatus.DISPATCHED


def test_a_withdrawn_dispute_returns_the_ticket_to_its_owner() -> None:
    s, _ = run(*bounce_back("D-CG", "JD-HP"), ev("reassigned", to_unit="D-CG"),
               ev("dispute_opened", dispute_id="DSP-1"), ev("signed", unit="D-CG"),
               ev("dispute_closed", dispute_id="DSP-1"))
    assert (s.status, s.owner, s.interim_owner, s.accepted) == (
        TicketStatus.SIGNED, "D-CG", None, True)


def test_closing_a_dispute_that_is_not_the_tickets_is_refused() -> None:
    s, _ = run(ev("dispatched", unit="D-CG"), ev("dispute_opened", dispute_id="DSP-1"))
    with pytest.raises(Conflict) as exc:
        apply(s, ev("dispute_closed", dispute_id="DSP-9"))
    assert exc.value.code == "dispute_mismatch"


def test_an_ambiguous_routing_dispute_puts_a_new_ticket_with_the_territorial_unit() -> None:
    s, _ = run(ev("dispute_opened", dispute_id="DSP-7"), territorial_unit="JD-HP")
    assert (s.status, s.interim_owner, s.owner, s.holder) == (
        TicketStatus.IN_DISPUTE, "JD-HP", None, "JD-HP")
    with pytest.raises(Conflict) as exc:
        run(ev("dispute_opened", dispute_id="DSP-7"))
    assert exc.value.code == "no_interim_owner"


def test_completion_ends_the_ticket() -> None:
    s, _ = run(ev("dispatched", unit="D-CG"), ev("signed", unit="D-CG"),
               ev("completed", unit="D-CG"))
    assert s.status is TicketStatus.COMPLETED


@pytest.mark.parametrize("event", [
    ret("D-CG"), ev("signed", unit="D-CG"), ev("dispatched", unit="JD-HP"),
    ev("reassigned", to_unit="JD-HP"), ev("return_upheld"), ev("completed"),
    ev("dispute_opened", dispute_id="DSP-1"),
])
def test_no_event_may_follow_completion(event: Event) -> None:
    s, _ = run(ev("dispatched", unit="D-CG"), ev("completed"))
    with pytest.raises(Conflict) as exc:
        apply(s, event)
    assert exc.value.code == "ticket_completed"


def test_an_event_dated_before_the_last_one_is_refused() -> None:
    s, _ = run(ev("dispatched", at("2026-11-23 10:00"), unit="D-CG"))
    with pytest.raises(Conflict) as exc:
        apply(s, ev("signed", at("2026-11-23 09:59"), unit="D-CG"))
    assert exc.value.code == "event_out_of_order"


@pytest.mark.parametrize(("event", "code", "field"), [
    (ev("escalated", unit="D-CG"), "invalid_event_type", "type"),
    (ev("dispatched"), "invalid_event", "unit"),
    (ev("reassigned", unit="D-CG"), "invalid_event", "to_unit"),
    (Event("dispatched", datetime(2026, 11, 23, 9), unit="D-CG"), "invalid_event", "at"),
    (ev("dispute_opened"), "invalid_event", "dispute_id"),
    (Event("return_requested", T0, reason_code="other", basis="…"), "invalid_event", "unit"),
])
def test_a_malformed_event_is_refused_naming_the_field(event: Event, code: str,
                                                       field: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        run(ev("dispatched", unit="D-CG"), event)
    assert exc.value.code == code
    assert exc.value.context["field"] == field


def test_the_first_event_may_carry_category_and_area() -> None:
    s, _ = run(ev("dispatched", unit="D-CG", category="030101", area="110199001"),
               state=TicketState("T2"))
    assert (s.category, s.area) == ("030101", "110199001")


def test_apply_leaves_the_old_state_untouched() -> None:
    s0 = TicketState("T1")
    s1 = apply(s0, ev("dispatched", unit="D-CG")).state
    assert s0 == TicketState("T1")
    assert s1.history == ({"type": "dispatched", "at": "2026-11-23T09:00:00+08:00",
                           "unit": "D-CG"},)


def test_replaying_the_history_rebuilds_the_state() -> None:
    events = [*bounce_back("D-CG", "JD-HP"), ev("reassigned", to_unit="D-CG"),
              ev("dispute_opened", dispute_id="DSP-1"), ev("reassigned", to_unit="JD-HP"),
              ev("signed", unit="JD-HP"), ev("completed", unit="JD-HP")]
    state, _ = run(*events)
    rebuilt = replay(events, ticket_id=state.ticket_id, category="030101", area="110199001")
    assert rebuilt == state
    from_history = replay(state.history, ticket_id=state.ticket_id, category="030101",
                          area="110199001")
    assert from_history == state
    assert [h["type"] for h in state.history] == [e.type for e in events]


def test_an_event_from_a_dict_with_an_unknown_field_is_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        Event.from_dict({"type": "dispatched", "at": "2026-11-23T09:00:00+08:00",
                         "unit": "D-CG", "owner": "x"})
    assert exc.value.context["field"] == "owner"
    with pytest.raises(InvalidInput) as exc:
        Event.from_dict({"type": "dispatched", "at": "yesterday", "unit": "D-CG"})
    assert exc.value.context["field"] == "at"


# -- disputes --------------------------------------------------------------------------------


def a_dispute(opened: datetime = T0) -> disputes.DisputeState:
    return open_dispute("DSP-1", parties=("D-CG", "JD-HP"), reason="bounce", opened_at=opened,
                        ticket_id="T1", category="030101", area="110199001")


def test_an_open_dispute_must_be_claimed_within_two_working_days() -> None:
    d = a_dispute()
    assert d.status is DisputeStatus.OPEN
    assert d.stage_deadline == at("2026-11-25 09:00")
    over_festival = a_dispute(at("2026-02-13 10:00"))
    assert over_festival.stage_deadline == at("2026-02-24 10:00")


def test_claiming_a_dispute_starts_a_five_working_day_review() -> None:
    d = claim(a_dispute(), "arbiter-1", at("2026-11-24 10:00"))
    assert (d.status, d.arbiter) == (DisputeStatus.UNDER_REVIEW, "arbiter-1")
    assert d.stage_deadline == at("2026-12-01 10:00")
    assert d.claimed_at == at("2026-11-24 10:00")


def test_claiming_again_by_the_same_arbiter_changes_nothing() -> None:
    d = claim(a_dispute(), "arbiter-1", T0)
    assert claim(d, "arbiter-1", at("2026-11-26 10:00")) == d


def test_a_dispute_held_by_another_arbiter_cannot_be_claimed() -> None:
    d = claim(a_dispute(), "arbiter-1", T0)
    with pytest.raises(Conflict) as exc:
        claim(d, "arbiter-2", T0)
    assert exc.value.code == "dispute_claimed"
    assert exc.value.context["arbiter"] == "arbiter-1"


def test_a_closed_dispute_cannot_be_claimed() -> None:
    ruled = record_ruling(claim(a_dispute(), "arbiter-1", T0), "arbiter-1", T0)
    with pytest.raises(Conflict) as exc:
        claim(ruled, "arbiter-2", T0)
    assert exc.value.code == "dispute_closed"
    with pytest.raises(Conflict) as exc:
        claim(withdraw(a_dispute(), T0), "arbiter-1", T0)
    assert exc.value.code == "dispute_closed"


def test_a_claim_needs_an_arbiter() -> None:
    with pytest.raises(InvalidInput) as exc:
        claim(a_dispute(), " ", T0)
    assert exc.value.code == "invalid_arbiter"


def test_a_party_can_state_its_case() -> None:
    d = add_statement(a_dispute(), "JD-HP", "小区内违建属城管执法", at=T0,
                      basis="《示范区街道履职事项清单》配合履职第3项", proposed_lead="D-CG")
    assert len(d.statements) == 1
    assert (d.statements[0].unit, d.statements[0].proposed_lead) == ("JD-HP", "D-CG")


def test_a_unit_that_is_not_a_party_cannot_make_a_statement() -> None:
    with pytest.raises(InvalidInput) as exc:
        add_statement(a_dispute(), "D-ZJ", "与我无关", at=T0)
    assert exc.value.code == "not_a_party"
    assert exc.value.context["field"] == "unit"


def test_a_statement_needs_text_and_an_active_dispute() -> None:
    with pytest.raises(InvalidInput) as exc:
        add_statement(a_dispute(), "JD-HP", "", at=T0)
    assert exc.value.context["field"] == "text"
    with pytest.raises(Conflict) as exc2:
        add_statement(withdraw(a_dispute(), T0), "JD-HP", "晚了", at=T0)
    assert exc2.value.code == "dispute_closed"


def test_only_a_claimed_dispute_can_be_ruled_and_only_by_its_arbiter() -> None:
    d = a_dispute()
    assert not can_rule(d)
    with pytest.raises(Conflict) as exc:
        record_ruling(d, "arbiter-1", T0)
    assert exc.value.code == "dispute_not_claimed"
    d = claim(d, "arbiter-1", T0)
    assert can_rule(d)
    assert can_rule(d, "arbiter-1")
    assert not can_rule(d, "arbiter-2")
    ruled = record_ruling(d, "arbiter-1", at("2026-11-25 10:00"))
    assert (ruled.status, ruled.stage_deadline, ruled.closed_at) == (
        DisputeStatus.RULED, None, at("2026-11-25 10:00"))
    assert not can_rule(ruled)
    with pytest.raises(Conflict) as exc:
        record_ruling(ruled, "arbiter-1", T0)
    assert exc.value.code == "dispute_closed"


def test_a_dispute_is_overdue_once_its_stage_deadline_passes() -> None:
    d = a_dispute()
    assert not is_overdue(d, at("2026-11-25 09:00"))
    assert is_overdue(d, at("2026-11-25 09:01"))
    reviewing = claim(d, "arbiter-1", at("2026-11-24 10:00"))
    assert not is_overdue(reviewing, at("2026-11-30 10:00"))
    assert is_overdue(reviewing, at("2026-12-01 10:01"))
    assert not is_overdue(record_ruling(reviewing, "arbiter-1", T0), at("2027-01-01 00:00"))


def test_stage_deadlines_come_from_the_policy() -> None:
    p = Policy.from_dict({"dispute_deadlines": {"open": 1, "under_review": 10}})
    assert deadline_for("open", T0, p) == at("2026-11-24 09:00")
    assert deadline_for("under_review", T0, p) == at("2026-12-07 09:00")
    with pytest.raises(InvalidInput) as exc:
        deadline_for("ruled", T0)
    assert exc.value.code == "invalid_stage"


def test_a_dispute_needs_a_known_reason_and_a_party() -> None:
    with pytest.raises(InvalidInput) as exc:
        open_dispute("D", parties=("A",), reason="grudge", opened_at=T0)
    assert (exc.value.code, exc.value.context["field"]) == ("invalid_reason", "reason")
    with pytest.raises(InvalidInput) as exc:
        open_dispute("D", parties=(), reason="manual", opened_at=T0)
    assert exc.value.code == "invalid_parties"


def test_a_bounce_effect_opens_a_dispute_between_its_parties() -> None:
    _, effects = run(*bounce_back("D-CG", "JD-HP"), ev("reassigned", to_unit="D-CG"))
    e = effects[0]
    d = open_dispute("DSP-1", parties=e.parties, reason=e.reason, opened_at=e.at,
                     ticket_id=e.ticket_id, category=e.category, area=e.area)
    assert (d.parties, d.reason, d.ticket_id) == (("D-CG", "JD-HP"), "bounce", "T20261123-0001")


# -- docstring examples ----------------------------------------------------------------------


@pytest.mark.parametrize("module", [workdays, policy, tickets, disputes],
                         ids=lambda m: m.__name__)
def test_the_docstring_examples_run(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
