"""Working-day arithmetic on the Chinese public-holiday calendar, with a district's override.

Time limits of the hotline (return windows, sign-in, dispute stages) are counted in **working
days** (工作日): public holidays are skipped and adjusted working weekends (调休, a Saturday or
Sunday worked to bridge a holiday) count. The base is ``chinese_calendar``, which knows the
State Council's notice for each year it ships with (2004–2026 in 1.11.0). The State Council
publishes next year's holidays in November or December, often before the library catches up,
so a district enters them as a :class:`Calendar` override in its policy:

- ``holidays`` / ``working_days``: dates not worked / worked, whatever the library says;
- ``years``: the years the override fully describes. In such a year a date in neither list
  follows the library where it knows the year, else Monday–Friday.

A year is **covered** when the library knows it or it is one of the override's ``years``.
A year that is not covered is counted Monday–Friday, and a deadline whose count touched a day
of such a year is **provisional** (:func:`is_provisional`): it may move once the year's
holidays are known.

The functions here are pure: the calendar is a value passed in (default :data:`LIBRARY`, the
library alone), never global state.

A working day is counted as a whole local day (00:00 to 24:00 in the district's time zone):
``n`` working days after a time on a working day is the same time of day ``n`` working days
later; a start on a non-working day counts from 00:00 of the next working day. Windows in
minutes (sign-in for danger to life or property, utility outages) count calendar time:
:func:`add_minutes`.

>>> from datetime import datetime
>>> friday = datetime.fromisoformat("2025-09-26T10:00:00+08:00")
>>> add_working_days(friday, 1).isoformat()  # Sunday 28 September 2025 is a 调休 working day
'2025-09-28T10:00:00+08:00'
>>> eve = datetime.fromisoformat("2026-12-31T10:00:00+08:00")
>>> add_working_days(eve, 1).isoformat(), is_provisional(eve, add_working_days(eve, 1))
('2027-01-01T10:00:00+08:00', True)
>>> known = Calendar(years=frozenset({2027}), holidays=frozenset({date(2027, 1, 1)}))
>>> add_working_days(eve, 1, calendar=known).isoformat()   # Friday 1 January is a holiday
'2027-01-04T10:00:00+08:00'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar
from chinese_calendar import constants as _library_data

from jurisdiction.errors import InvalidInput

DEFAULT_TZ = "Asia/Shanghai"

#: The longest span add_working_days accepts; a guard against a runaway loop, not a rule.
MAX_WORKING_DAYS = 3660

#: From this month on, next year's holidays should be known (the State Council publishes them
#: in November or December): :func:`missing_years` asks for next year too.
NEXT_YEAR_DUE_MONTH = 11

_DAY = timedelta(days=1)


@lru_cache(maxsize=1)
def library_years() -> tuple[int, int]:
    """The first and last year ``chinese_calendar`` has data for (it refuses any other).

    >>> first, last = library_years()
    >>> first <= 2025 <= last
    True
    """
    known = _library_data.holidays
    return min(known).year, max(known).year


@lru_cache(maxsize=8192)
def _official_workday(d: date) -> bool | None:
    """The official answer for ``d``, or None when chinese_calendar has no data for its year."""
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:
        return None


@dataclass(frozen=True, slots=True)
class Calendar:
    """The working-day calendar of a district: the library, overridden by the district.

    ``years``, ``holidays`` and ``working_days`` are the district's override (module
    docstring). ``library_until`` pins the library to the years it knew up to then (None: what
    it knows now): a stored event remembers it, so its history replays the same after the
    library learns a year that was counted Monday–Friday when the event was applied.

    >>> c = Calendar(years=frozenset({2027}), holidays=frozenset({date(2027, 1, 1)}),
    ...              working_days=frozenset({date(2027, 2, 7)}))
    >>> c.is_working_day(date(2027, 1, 1)), c.is_working_day(date(2027, 2, 7))
    (False, True)
    >>> c.covers_year(2027), c.covers_year(2028), LIBRARY.covers_year(2027)
    (True, False, False)
    """

    years: frozenset[int] = field(default_factory=frozenset)
    holidays: frozenset[date] = field(default_factory=frozenset)
    working_days: frozenset[date] = field(default_factory=frozenset)
    library_until: int | None = None

    def _library(self, d: date) -> bool | None:
        if self.library_until is not None and d.year > self.library_until:
            return None
        return _official_workday(d)

    def library_covers(self, year: int) -> bool:
        """Whether the library (as pinned) knows ``year``."""
        first, last = library_years()
        if self.library_until is not None:
            last = min(last, self.library_until)
        return first <= year <= last

    def covers_year(self, year: int) -> bool:
        """Whether ``year`` is known: the library knows it or the override describes it."""
        return year in self.years or self.library_covers(year)

    def is_known(self, d: date) -> bool:
        """Whether ``d`` falls in a covered year (else it is counted Monday–Friday)."""
        return self.covers_year(d.year)

    def is_working_day(self, d: date) -> bool:
        """The override's answer for a listed date, else the library's, else Monday–Friday."""
        if d in self.holidays:
            return False
        if d in self.working_days:
            return True
        official = self._library(d)
        if official is None:
            return d.weekday() < 5
        return official

    def pinned(self, library_until: int | None) -> Calendar:
        """This calendar with the library limited to the years up to ``library_until``."""
        return self if library_until == self.library_until else replace(
            self, library_until=library_until)


#: The library alone: no override.
LIBRARY = Calendar()


def is_calendar_known(d: date, calendar: Calendar = LIBRARY) -> bool:
    """Whether ``d`` is covered by the holiday calendar (else Monday–Friday is assumed).

    >>> from datetime import date
    >>> is_calendar_known(date(2026, 10, 1)), is_calendar_known(date(2199, 1, 1))
    (True, False)
    """
    return calendar.is_known(d)


def is_working_day(d: date, calendar: Calendar = LIBRARY) -> bool:
    """Whether ``d`` is a working day: a weekday that is not a public holiday, or a weekend day
    worked in lieu (调休). Years the calendar does not cover fall back to Monday–Friday.

    >>> from datetime import date
    >>> is_working_day(date(2025, 10, 1))   # National Day
    False
    >>> is_working_day(date(2025, 9, 28))   # a Sunday worked in lieu (调休)
    True
    >>> is_working_day(date(2199, 1, 1)), is_working_day(date(2199, 1, 5))  # unknown year: Mon–Fri
    (True, False)
    """
    return calendar.is_working_day(d)


def next_working_day(d: date, calendar: Calendar = LIBRARY) -> date:
    """The first working day strictly after ``d``.

    >>> from datetime import date
    >>> next_working_day(date(2025, 9, 30))
    datetime.date(2025, 10, 9)
    """
    d += _DAY
    while not calendar.is_working_day(d):
        d += _DAY
    return d


def missing_years(today: date, calendar: Calendar = LIBRARY) -> list[int]:
    """The years whose holidays should be known by ``today`` and are not: this year, and from
    1 November on next year too.

    >>> from datetime import date
    >>> missing_years(date(2026, 10, 31)), missing_years(date(2026, 11, 1))
    ([], [2027])
    >>> missing_years(date(2026, 11, 1), Calendar(years=frozenset({2027})))
    []
    """
    wanted = [today.year] + ([today.year + 1] if today.month >= NEXT_YEAR_DUE_MONTH else [])
    return [year for year in wanted if not calendar.covers_year(year)]


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


def add_working_days(start: datetime, n: int | float, tz: str = DEFAULT_TZ,
                     calendar: Calendar = LIBRARY) -> datetime:
    """The deadline ``n`` working days after ``start``, in the time zone ``tz``, on
    ``calendar``.

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
    if not calendar.is_working_day(cursor.date()):
        cursor = _midnight(next_working_day(cursor.date(), calendar), cursor)
    remaining = timedelta(days=n)
    while True:
        # Wall-clock arithmetic: both ends carry the same tzinfo, so a day is 24 local hours.
        available = _midnight(cursor.date() + _DAY, cursor) - cursor
        if remaining <= available:
            return cursor + remaining
        remaining -= available
        cursor = _midnight(next_working_day(cursor.date(), calendar), cursor)


def add_minutes(start: datetime, minutes: int | float, tz: str = DEFAULT_TZ) -> datetime:
    """``minutes`` of calendar (elapsed) time after ``start``, in ``tz``; holidays do not stop
    the clock. Used for the 15- and 30-minute sign-in windows.

    >>> add_minutes(datetime.fromisoformat("2025-10-01T23:50:00+08:00"), 15).isoformat()
    '2025-10-02T00:05:00+08:00'
    """
    _check_amount(minutes, "minutes", "invalid_minutes", MAX_WORKING_DAYS * 24 * 60)
    local = to_local(start, tz)
    return (local.astimezone(UTC) + timedelta(minutes=minutes)).astimezone(local.tzinfo)


def working_days_between(a: datetime, b: datetime, tz: str = DEFAULT_TZ,
                         calendar: Calendar = LIBRARY) -> float:
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
        return -working_days_between(b, a, tz, calendar)
    total = timedelta(0)
    day = start.date()
    while day <= end.date():
        if calendar.is_working_day(day):
            lo = max(start, _midnight(day, start))
            hi = min(end, _midnight(day + _DAY, start))
            if hi > lo:
                total += hi - lo
        day += _DAY
    return total / _DAY


def is_provisional(start: datetime, end: datetime, tz: str = DEFAULT_TZ,
                   calendar: Calendar = LIBRARY) -> bool:
    """Whether counting working days from ``start`` to ``end`` (a deadline) looked at a day of a
    year ``calendar`` does not cover: that day was taken to be worked Monday–Friday, so the
    deadline may move once the year's holidays are known.

    >>> def at(s: str) -> datetime:
    ...     return datetime.fromisoformat(s)
    >>> is_provisional(at("2026-12-30T10:00:00+08:00"), at("2026-12-31T10:00:00+08:00"))
    False
    >>> is_provisional(at("2026-12-31T10:00:00+08:00"), at("2027-01-01T10:00:00+08:00"))
    True
    """
    first, last = sorted((to_local(start, tz).year, to_local(end, tz).year))
    return any(not calendar.covers_year(year) for year in range(first, last + 1))
