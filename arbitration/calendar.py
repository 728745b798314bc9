"""Working-day arithmetic on the Chinese public-holiday calendar.

Time limits of the hotline (return windows, sign-in, dispute stages) are counted in **working
days** (工作日): public holidays are skipped and adjusted working weekends (调休, a Saturday or
Sunday worked to bridge a holiday) count. The calendar comes from ``chinese_calendar``, which
knows the State Council's notice for each year it ships with. For a year it does not know
(it raises ``NotImplementedError``), quanze falls back to Monday–Friday;
:func:`is_calendar_known` tells a caller whether a date was counted from the official calendar
or from that fallback, so a deadline far in the future can be flagged as provisional.

A working day is counted as a whole local day (00:00 to 24:00 in the district's time zone):
``n`` working days after a time on a working day is the same time of day ``n`` working days
later; a start on a non-working day counts from 00:00 of the next working day. Windows in
minutes (sign-in for danger to life or property, utility outages) count calendar time:
:func:`add_minutes`.

>>> from datetime import datetime
>>> friday = datetime.fromisoformat("2025-09-26T10:00:00+08:00")
>>> add_working_days(friday, 1).isoformat()  # Sunday 28 September 2025 is a 调休 working day
'2025-09-28T10:00:00+08:00'
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

from jurisdiction.errors import InvalidInput

DEFAULT_TZ = "Asia/Shanghai"

#: The longest span add_working_days accepts; a guard against a runaway loop, not a rule.
MAX_WORKING_DAYS = 3660

_DAY = timedelta(days=1)


@lru_cache(maxsize=8192)
def _official_workday(d: date) -> bool | None:
    """The official answer for ``d``, or None when chinese_calendar has no data for its year."""
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:
        return None


def is_calendar_known(d: date) -> bool:
    """Whether ``d`` is covered by the official holiday calendar (else Monday–Friday is assumed).

    >>> from datetime import date
    >>> is_calendar_known(date(2026, 10, 1)), is_calendar_known(date(2199, 1, 1))
    (True, False)
    """
    return _official_workday(d) is not None


def is_working_day(d: date) -> bool:
    """Whether ``d`` is a working day: a weekday that is not a public holiday, or a weekend day
    worked in lieu (调休). Years the calendar does not know fall back to Monday–Friday.

    >>> from datetime import date
    >>> is_working_day(date(2025, 10, 1))   # National Day
    False
    >>> is_working_day(date(2025, 9, 28))   # a Sunday worked in lieu (调休)
    True
    >>> is_working_day(date(2199, 1, 1)), is_working_day(date(2199, 1, 5))  # unknown year: Mon–Fri
    (True, False)
    """
    official = _official_workday(d)
    if official is None:
        return d.weekday() < 5
    return official


def next_working_day(d: date) -> date:
    """The first working day strictly after ``d``.

    >>> from datetime import date
    >>> next_working_day(date(2025, 9, 30))
    datetime.date(2025, 10, 9)
    """
    d += _DAY
    while not is_working_day(d):
        d += _DAY
    return d


@lru_cache(maxsize=64)
def zone(tz: str) -> ZoneInfo:
    """The time zone named ``tz``; an unknown name is ``InvalidInput`` (``invalid_timezone``).

    >>> zone("Asia/Shanghai").key
    'Asia/Shanghai'
    """
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {tz!r}", code="invalid_timezone", field="tz",
                           tz=tz) from exc


def to_local(moment: datetime, tz: str = DEFAULT_TZ) -> datetime:
    """``moment`` in the time zone ``tz``; a naive datetime is taken as local time in ``tz``.

    >>> to_local(datetime.fromisoformat("2026-01-05T02:00:00+00:00")).isoformat()
    '2026-01-05T10:00:00+08:00'
    """
    z = zone(tz)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=z)
    return moment.astimezone(z)


def _midnight(d: date, like: datetime) -> datetime:
    return datetime.combine(d, time(0), tzinfo=like.tzinfo)


def _check_amount(value: float, field: str, code: str, limit: float) -> None:
    if isinstance(value, bool) or not math.isfinite(value) or value < 0 or value > limit:
        raise InvalidInput(f"{field} must be a number between 0 and {limit}, not {value!r}",
                           code=code, field=field, value=value)


def add_working_days(start: datetime, n: int | float, tz: str = DEFAULT_TZ) -> datetime:
    """The deadline ``n`` working days after ``start``, in the time zone ``tz``.

    The time of day is kept; a start on a non-working day counts from 00:00 of the next
    working day. A fractional ``n`` counts the fraction of a 24-hour working day.

    >>> def at(s: str) -> datetime:
    ...     return datetime.fromisoformat(s)
    >>> add_working_days(at("2026-01-09T17:30:00+08:00"), 1).isoformat()   # Friday → Monday
    '2026-01-12T17:30:00+08:00'
    >>> add_working_days(at("2025-09-30T10:00:00+08:00"), 1).isoformat()   # over National Day
    '2025-10-09T10:00:00+08:00'
    >>> add_working_days(at("2025-10-04T15:00:00+08:00"), 1).isoformat()   # starts in a holiday
    '2025-10-10T00:00:00+08:00'
    """
    _check_amount(n, "n", "invalid_working_days", MAX_WORKING_DAYS)
    cursor = to_local(start, tz)
    if not is_working_day(cursor.date()):
        cursor = _midnight(next_working_day(cursor.date()), cursor)
    remaining = timedelta(days=n)
    while True:
        # Wall-clock arithmetic: both ends carry the same tzinfo, so a day is 24 local hours.
        available = _midnight(cursor.date() + _DAY, cursor) - cursor
        if remaining <= available:
            return cursor + remaining
        remaining -= available
        cursor = _midnight(next_working_day(cursor.date()), cursor)


def add_minutes(start: datetime, minutes: int | float, tz: str = DEFAULT_TZ) -> datetime:
    """``minutes`` of calendar (elapsed) time after ``start``, in ``tz``; holidays do not stop
    the clock. Used for the 15- and 30-minute sign-in windows.

    >>> add_minutes(datetime.fromisoformat("2025-10-01T23:50:00+08:00"), 15).isoformat()
    '2025-10-02T00:05:00+08:00'
    """
    _check_amount(minutes, "minutes", "invalid_minutes", MAX_WORKING_DAYS * 24 * 60)
    local = to_local(start, tz)
    return (local.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(local.tzinfo)


def working_days_between(a: datetime, b: datetime, tz: str = DEFAULT_TZ) -> float:
    """Working time from ``a`` to ``b`` in working days (negative when ``b`` is before ``a``);
    the inverse of :func:`add_working_days` for a start on a working day.

    >>> def at(s: str) -> datetime:
    ...     return datetime.fromisoformat(s)
    >>> working_days_between(at("2025-09-30T10:00:00+08:00"), at("2025-10-09T10:00:00+08:00"))
    1.0
    >>> working_days_between(at("2026-01-05T00:00:00+08:00"), at("2026-01-05T12:00:00+08:00"))
    0.5
    """
    start, end = to_local(a, tz), to_local(b, tz)
    if end < start:
        return -working_days_between(b, a, tz)
    total = timedelta(0)
    day = start.date()
    while day <= end.date():
        if is_working_day(day):
            lo = max(start, _midnight(day, start))
            hi = min(end, _midnight(day + _DAY, start))
            if hi > lo:
                total += hi - lo
        day += _DAY
    return total / _DAY
