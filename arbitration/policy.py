"""A district's process rules for returns, sign-in, bounces and disputes, as data.

The numbers differ between cities (Tianjin: return within 1 working day, 2 for complex cases;
sign-in within 15 minutes for danger to life or property, 30 for water/power/gas/heating,
1 working day otherwise; after 3 dispatches without an accepting unit the hotline designates
one). The ticket and dispute code reads them from a :class:`Policy` instead of hard-coding
them, so a district changes a number by changing data.

>>> DEFAULT_POLICY.reason_label("territory_mismatch")
'属地不符'
>>> DEFAULT_POLICY.return_window("complex")
2.0
>>> custom = Policy.from_dict({"bounce_cap": 4, "return_windows": {"standard": 1, "complex": 3}})
>>> custom.bounce_cap, custom.return_window("complex")
(4, 3.0)

Every number is checked for meaning, not only type: a policy that is accepted keeps routing,
ticket events and statistics working (a window of 1e9 working days, ``NaN`` or an unknown
time zone is refused, naming the field). The limits are the ``MAX_*`` constants below.

The district's calendar override (``calendar``, see :mod:`arbitration.calendar`) is part of
the policy, so every working-day count of the district uses it:

>>> p = Policy.from_dict({"calendar": {"years": [2027], "holidays": ["2027-01-01"]}})
>>> eve = datetime.fromisoformat("2026-12-31T10:00:00+08:00")
>>> p.return_deadline(eve).isoformat(), p.is_provisional(eve, p.return_deadline(eve))
('2027-01-04T10:00:00+08:00', False)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Literal

from arbitration.calendar import (
    DEFAULT_TZ,
    LIBRARY,
    Calendar,
    add_minutes,
    add_working_days,
    is_provisional,
    zone,
)
from jurisdiction.errors import InvalidInput

WindowUnit = Literal["minutes", "working_days"]

#: Return reason codes (退单原因) with their Chinese labels.
REASON_CODES: Mapping[str, str] = MappingProxyType({
    "territory_mismatch": "属地不符",
    "ownership_unclear": "权属不清",
    "function_overlap": "职能交叉",
    "not_government_duty": "非政府职责",
    "not_acceptable": "不予受理",
    "other": "其他",
})

#: The stages of a dispute that carry a deadline: ``open`` until an arbiter claims it,
#: ``under_review`` until it is ruled.
DISPUTE_STAGES = ("open", "under_review")

#: Where the interim owner of a disputed or returned ticket comes from, in order of preference.
INTERIM_SOURCES = ("first_receiver", "territorial_unit")

_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

#: The longest window in working days (return, sign-in, dispute stage). Time limits in practice
#: are 1–15 working days (domain.md §5); 60 (about three months) leaves room and keeps every
#: deadline within the next year, which the calendar check of ``verify`` looks at.
MAX_WINDOW_WORKING_DAYS = 60
#: The longest window in minutes of calendar time (sign-in: 15 or 30 in practice): a week.
MAX_WINDOW_MINUTES = 7 * 24 * 60
#: The highest bounce cap: past this many dispatches nobody waits for a cap any more.
MAX_BOUNCE_CAP = 20
#: Sizes of the code tables (reason codes, tiers, urgencies) and their codes and labels; a
#: code longer than the API accepts in an event could never be used.
MAX_CODES = 50
MAX_CODE_LENGTH = 40
MAX_LABEL_LENGTH = 40
#: The calendar override: years it may describe, how many, how many dates per list.
CALENDAR_YEARS = (2000, 2100)
MAX_CALENDAR_YEARS = 20
MAX_CALENDAR_DATES = 1000


@dataclass(frozen=True, slots=True)
class Window:
    """A time limit: ``amount`` minutes of calendar time, or ``amount`` working days.

    >>> Window(30, "minutes").as_dict()
    {'minutes': 30}
    >>> start = datetime.fromisoformat("2026-10-09T16:00:00+08:00")
    >>> Window(1, "working_days").deadline(start).isoformat()   # Saturday 10 October is worked
    '2026-10-10T16:00:00+08:00'
    """

    amount: float
    unit: WindowUnit

    def deadline(self, since: datetime, tz: str = DEFAULT_TZ,
                 calendar: Calendar = LIBRARY) -> datetime:
        if self.unit == "minutes":
            return add_minutes(since, self.amount, tz)
        return add_working_days(since, self.amount, tz, calendar)

    def as_dict(self) -> dict[str, float]:
        return {self.unit: self.amount}

    @classmethod
    def from_value(cls, value: Any, where: str) -> Window:
        """``{"minutes": 15}`` or ``{"working_days": 1}``; a bare number means working days."""
        if isinstance(value, Window):
            return value
        if isinstance(value, Mapping):
            if len(value) != 1 or next(iter(value)) not in ("minutes", "working_days"):
                raise _invalid(where, "must be {'minutes': n} or {'working_days': n}", value)
            unit: WindowUnit = "minutes" if "minutes" in value else "working_days"
            limit = MAX_WINDOW_MINUTES if unit == "minutes" else MAX_WINDOW_WORKING_DAYS
            return cls(_positive(value[unit], f"{where}.{unit}", limit=limit), unit)
        return cls(_positive(value, where, limit=MAX_WINDOW_WORKING_DAYS), "working_days")


def _invalid(where: str, what: str, value: Any) -> InvalidInput:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    # The context travels into problem+json: NaN and infinities are not JSON, so they (and
    # containers) go as their repr.
    finite = isinstance(value, float) and math.isfinite(value)
    safe: Any = value if finite or isinstance(value, str | int) or value is None else shown
    return InvalidInput(f"policy field {where} {what} (got {shown})", code="invalid_policy",
                        field=where, value=safe)


def _positive(value: Any, where: str, *, limit: float) -> float:
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value))
            or not 0 < value <= limit):
        raise _invalid(where, f"must be a positive number of at most {limit:g}", value)
    return float(value)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not value:
        raise _invalid(where, "must be a non-empty object", value)
    if len(value) > MAX_CODES:
        raise _invalid(where, f"may hold at most {MAX_CODES} entries", len(value))
    for key in value:
        if (not isinstance(key, str) or not _CODE.match(key)
                or len(key) > MAX_CODE_LENGTH):
            raise _invalid(f"{where}.{key}", "is not a snake_case code of at most "
                           f"{MAX_CODE_LENGTH} characters", key)
    return value


def _date(value: Any, where: str) -> date:
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            d = date.fromisoformat(value)
        except ValueError:
            pass
        else:
            if CALENDAR_YEARS[0] <= d.year <= CALENDAR_YEARS[1]:
                return d
            raise _invalid(where, f"must lie in the years {CALENDAR_YEARS[0]}–"
                           f"{CALENDAR_YEARS[1]}", value)
    raise _invalid(where, "must be a date YYYY-MM-DD", value)


def _dates(value: Any, where: str) -> frozenset[date]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _invalid(where, "must be a list of dates YYYY-MM-DD", value)
    if len(value) > MAX_CALENDAR_DATES:
        raise _invalid(where, f"may list at most {MAX_CALENDAR_DATES} dates", len(value))
    return frozenset(_date(item, f"{where}[{i}]") for i, item in enumerate(value))


def calendar_from_dict(data: Any, where: str = "calendar") -> Calendar:
    """A district's calendar override from ``{"years": [...], "holidays": [...],
    "working_days": [...]}`` (each optional; duplicates are dropped). Raises ``InvalidInput``
    ``invalid_policy`` naming the field, e.g. ``calendar.holidays[2]``.

    >>> c = calendar_from_dict({"years": [2027], "holidays": ["2027-01-01"]})
    >>> c.covers_year(2027), sorted(c.holidays)
    (True, [datetime.date(2027, 1, 1)])
    >>> calendar_from_dict({"holidays": ["2027-02-07"], "working_days": ["2027-02-07"]})
    Traceback (most recent call last):
      ...
    jurisdiction.errors.InvalidInput: policy field calendar.working_days[0] lists 2027-02-07, which calendar.holidays lists too (got '2027-02-07') (field='calendar.working_days[0]', value='2027-02-07')
    """  # noqa: E501
    if not isinstance(data, Mapping):
        raise _invalid(where, "must be an object with years, holidays and working_days", data)
    for key in data:
        if key not in ("years", "holidays", "working_days"):
            raise _invalid(f"{where}.{key}", "is not a calendar field (years, holidays, "
                           "working_days)", data[key])
    raw_years = data.get("years", [])
    if isinstance(raw_years, str) or not isinstance(raw_years, list | tuple):
        raise _invalid(f"{where}.years", "must be a list of years", raw_years)
    if len(raw_years) > MAX_CALENDAR_YEARS:
        raise _invalid(f"{where}.years", f"may list at most {MAX_CALENDAR_YEARS} years",
                       len(raw_years))
    lo, hi = CALENDAR_YEARS
    for i, year in enumerate(raw_years):
        if isinstance(year, bool) or not isinstance(year, int) or not lo <= year <= hi:
            raise _invalid(f"{where}.years[{i}]", f"must be a year from {lo} to {hi}", year)
    holidays = _dates(data.get("holidays", []), f"{where}.holidays")
    working = _dates(data.get("working_days", []), f"{where}.working_days")
    for i, item in enumerate(data.get("working_days", [])):
        if date.fromisoformat(item) in holidays:
            raise _invalid(f"{where}.working_days[{i}]",
                           f"lists {item}, which {where}.holidays lists too", item)
    return Calendar(years=frozenset(raw_years), holidays=holidays, working_days=working)


def calendar_as_dict(calendar: Calendar) -> dict[str, list[Any]]:
    """The override as plain JSON-ready data, sorted.

    >>> calendar_as_dict(calendar_from_dict({"years": [2027], "holidays": ["2027-01-01"]}))
    {'years': [2027], 'holidays': ['2027-01-01'], 'working_days': []}
    """
    return {"years": sorted(calendar.years),
            "holidays": [d.isoformat() for d in sorted(calendar.holidays)],
            "working_days": [d.isoformat() for d in sorted(calendar.working_days)]}


def _frozen(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True, slots=True)
class Policy:
    """The process rules of one district. Build one with :meth:`from_dict` (validated, every
    error names its field); the mappings are read-only.

    - ``reason_codes``: return reason code → Chinese label (属地不符 …).
    - ``return_windows``: tier → working days within which a unit may return a ticket
      (退单时限), counted from its dispatch; ``default_tier`` applies when a dispatch names none.
    - ``sign_in_windows``: urgency → :class:`Window` for sign-in (签收时限).
    - ``bounce_cap``: dispatches without an accepting unit after which a dispute opens.
    - ``dispute_deadlines``: dispute stage → working days allowed in it.
    - ``interim_order``: where a ticket's interim owner comes from, first match wins.
    - ``tz``: the district's time zone, in which working days are counted.
    - ``calendar``: the district's calendar override (:class:`~arbitration.calendar.Calendar`:
      ``years`` it fully describes, ``holidays`` and ``working_days``) on top of the library.

    >>> Policy.from_dict({"bounce_cap": 0})
    Traceback (most recent call last):
      ...
    jurisdiction.errors.InvalidInput: policy field bounce_cap must be an integer from 2 to 20 (got 0) (field='bounce_cap', value=0)
    """  # noqa: E501

    reason_codes: Mapping[str, str] = field(default_factory=lambda: REASON_CODES)
    return_windows: Mapping[str, float] = field(
        default_factory=lambda: _frozen({"standard": 1.0, "complex": 2.0}))
    default_tier: str = "standard"
    sign_in_windows: Mapping[str, Window] = field(default_factory=lambda: _frozen({
        "danger": Window(15, "minutes"),
        "utility": Window(30, "minutes"),
        "standard": Window(1, "working_days"),
    }))
    default_urgency: str = "standard"
    bounce_cap: int = 3
    dispute_deadlines: Mapping[str, float] = field(
        default_factory=lambda: _frozen({"open": 2.0, "under_review": 5.0}))
    interim_order: tuple[str, ...] = INTERIM_SOURCES
    tz: str = DEFAULT_TZ
    calendar: Calendar = LIBRARY

    # -- lookups ---------------------------------------------------------------------------

    def reason_label(self, code: str | None) -> str:
        """The Chinese label of a return reason; unknown is ``invalid_reason_code``.

        >>> DEFAULT_POLICY.reason_label("function_overlap")
        '职能交叉'
        """
        if code is None or code not in self.reason_codes:
            raise InvalidInput(
                f"unknown return reason code {code!r}; expected one of "
                f"{', '.join(self.reason_codes)}",
                code="invalid_reason_code", field="reason_code", reason_code=code)
        return self.reason_codes[code]

    def return_window(self, tier: str | None = None) -> float:
        """Working days allowed for a return in ``tier`` (default tier when None); an unknown
        tier is ``invalid_tier``.

        >>> DEFAULT_POLICY.return_window(), DEFAULT_POLICY.return_window("complex")
        (1.0, 2.0)
        """
        key = self.default_tier if tier is None else tier
        if key not in self.return_windows:
            raise InvalidInput(
                f"unknown tier {key!r}; expected one of {', '.join(self.return_windows)}",
                code="invalid_tier", field="tier", tier=key)
        return self.return_windows[key]

    def return_deadline(self, dispatched_at: datetime, tier: str | None = None) -> datetime:
        """The last moment a unit dispatched at ``dispatched_at`` may return the ticket.

        >>> start = datetime.fromisoformat("2026-09-30T09:00:00+08:00")
        >>> DEFAULT_POLICY.return_deadline(start).isoformat()   # National Day 1–7 October
        '2026-10-08T09:00:00+08:00'
        """
        return add_working_days(dispatched_at, self.return_window(tier), self.tz,
                                self.calendar)

    def sign_in_deadline(self, dispatched_at: datetime, urgency: str | None = None) -> datetime:
        """When a unit dispatched at ``dispatched_at`` must have signed in.

        >>> start = datetime.fromisoformat("2026-02-15T22:00:00+08:00")
        >>> DEFAULT_POLICY.sign_in_deadline(start, "danger").isoformat()
        '2026-02-15T22:15:00+08:00'
        """
        key = self.default_urgency if urgency is None else urgency
        if key not in self.sign_in_windows:
            raise InvalidInput(
                f"unknown urgency {key!r}; expected one of {', '.join(self.sign_in_windows)}",
                code="invalid_urgency", field="urgency", urgency=key)
        return self.sign_in_windows[key].deadline(dispatched_at, self.tz, self.calendar)

    def dispute_deadline(self, stage: str, since: datetime) -> datetime:
        """When a dispute that entered ``stage`` at ``since`` must leave it.

        >>> since = datetime.fromisoformat("2026-02-13T10:00:00+08:00")  # Friday before 春节
        >>> DEFAULT_POLICY.dispute_deadline("open", since).isoformat()
        '2026-02-24T10:00:00+08:00'
        """
        if stage not in self.dispute_deadlines:
            raise InvalidInput(
                f"dispute stage {stage!r} has no deadline; expected one of "
                f"{', '.join(self.dispute_deadlines)}",
                code="invalid_stage", field="stage", stage=stage)
        return add_working_days(since, self.dispute_deadlines[stage], self.tz, self.calendar)

    def is_provisional(self, since: datetime, deadline: datetime) -> bool:
        """Whether a deadline counted in working days from ``since`` touched a year the
        district's calendar does not cover (it may move once that year is known).

        >>> since = datetime.fromisoformat("2026-12-30T10:00:00+08:00")
        >>> DEFAULT_POLICY.is_provisional(since, DEFAULT_POLICY.dispute_deadline("open", since))
        True
        """
        return is_provisional(since, deadline, self.tz, self.calendar)

    def with_library_until(self, year: int | None) -> Policy:
        """This policy with its calendar's library pinned to the years up to ``year`` (how a
        stored event is replayed: with the library as it was when the event was applied)."""
        pinned = self.calendar.pinned(year)
        return self if pinned is self.calendar else replace(self, calendar=pinned)

    # -- (de)serialisation -----------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; ``Policy.from_dict(p.as_dict()) == p``.

        >>> Policy.from_dict(DEFAULT_POLICY.as_dict()) == DEFAULT_POLICY
        True
        """
        return {
            "reason_codes": dict(self.reason_codes),
            "return_windows": dict(self.return_windows),
            "default_tier": self.default_tier,
            "sign_in_windows": {k: w.as_dict() for k, w in self.sign_in_windows.items()},
            "default_urgency": self.default_urgency,
            "bounce_cap": self.bounce_cap,
            "dispute_deadlines": dict(self.dispute_deadlines),
            "interim_order": list(self.interim_order),
            "tz": self.tz,
            "calendar": calendar_as_dict(self.calendar),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """A validated policy; fields left out keep their defaults. Raises ``InvalidInput``
        (code ``invalid_policy``, ``field`` naming the path, e.g. ``return_windows.complex``).

        >>> Policy.from_dict({"return_windows": {"standard": -1}}).bounce_cap
        Traceback (most recent call last):
          ...
        jurisdiction.errors.InvalidInput: policy field return_windows.standard must be a positive number of at most 60 (got -1) (field='return_windows.standard', value=-1)
        """  # noqa: E501
        if not isinstance(data, Mapping):
            raise _invalid("(policy)", "must be an object", data)
        base = DEFAULT_POLICY
        known = set(base.as_dict())
        for key in data:
            if key not in known:
                raise _invalid(str(key), "is not a policy field", data[key])

        reasons = base.reason_codes
        if "reason_codes" in data:
            raw = _mapping(data["reason_codes"], "reason_codes")
            for code, label in raw.items():
                if (not isinstance(label, str) or not label.strip()
                        or len(label) > MAX_LABEL_LENGTH):
                    raise _invalid(f"reason_codes.{code}", "needs a non-empty label of at "
                                   f"most {MAX_LABEL_LENGTH} characters", label)
            reasons = _frozen(raw)

        windows = base.return_windows
        if "return_windows" in data:
            raw = _mapping(data["return_windows"], "return_windows")
            windows = _frozen({k: _positive(v, f"return_windows.{k}",
                                            limit=MAX_WINDOW_WORKING_DAYS)
                               for k, v in raw.items()})

        sign_in = base.sign_in_windows
        if "sign_in_windows" in data:
            raw = _mapping(data["sign_in_windows"], "sign_in_windows")
            sign_in = _frozen({k: Window.from_value(v, f"sign_in_windows.{k}")
                               for k, v in raw.items()})

        stages = base.dispute_deadlines
        if "dispute_deadlines" in data:
            raw = _mapping(data["dispute_deadlines"], "dispute_deadlines")
            stages = _frozen({k: _positive(v, f"dispute_deadlines.{k}",
                                           limit=MAX_WINDOW_WORKING_DAYS)
                              for k, v in raw.items()})
        for stage in DISPUTE_STAGES:
            if stage not in stages:
                raise _invalid(f"dispute_deadlines.{stage}", "is required", None)
        for stage in stages:
            if stage not in DISPUTE_STAGES:
                raise _invalid(f"dispute_deadlines.{stage}", "is not a dispute stage", stage)

        default_tier = data.get("default_tier", base.default_tier)
        if not isinstance(default_tier, str) or default_tier not in windows:
            raise _invalid("default_tier", "must name a tier of return_windows", default_tier)
        default_urgency = data.get("default_urgency", base.default_urgency)
        if not isinstance(default_urgency, str) or default_urgency not in sign_in:
            raise _invalid("default_urgency", "must name an urgency of sign_in_windows",
                           default_urgency)

        cap = data.get("bounce_cap", base.bounce_cap)
        if isinstance(cap, bool) or not isinstance(cap, int) or not 2 <= cap <= MAX_BOUNCE_CAP:
            raise _invalid("bounce_cap", f"must be an integer from 2 to {MAX_BOUNCE_CAP}", cap)

        order_raw = data.get("interim_order", base.interim_order)
        if (isinstance(order_raw, str) or not isinstance(order_raw, list | tuple)
                or not order_raw or any(s not in INTERIM_SOURCES for s in order_raw)
                or len(set(order_raw)) != len(order_raw)):
            raise _invalid("interim_order",
                           f"must list distinct sources from {', '.join(INTERIM_SOURCES)}",
                           order_raw)

        tz = data.get("tz", base.tz)
        if not isinstance(tz, str) or not tz or len(tz) > 64:
            raise _invalid("tz", "must be a time zone name", tz)
        try:
            zone(tz)
        except InvalidInput as exc:
            raise _invalid("tz", "is not a known time zone", tz) from exc

        calendar = (calendar_from_dict(data["calendar"]) if "calendar" in data
                    else base.calendar)

        return cls(reason_codes=reasons, return_windows=windows, default_tier=default_tier,
                   sign_in_windows=sign_in, default_urgency=default_urgency, bounce_cap=cap,
                   dispute_deadlines=stages, interim_order=tuple(order_raw), tz=tz,
                   calendar=calendar)


#: Tianjin's numbers (domain.md §5): the default for every district that sets none.
DEFAULT_POLICY = Policy()
