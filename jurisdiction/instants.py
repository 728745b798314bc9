"""The span of time quanze serves: a guard against dates that break arithmetic, not a rule.

Times outside it (``0001-01-01T00:00:00+08:00``, ``9999-12-31T23:59:59-08:00``) cannot be
moved to UTC, turned into timestamps or have working days added without overflowing (each
answered 500), so every time that enters from outside — routing ``as_of``, event ``at``, rule
validity — is checked against this span first and refused as a 422 naming the field.

The check reads the wall-clock year, so it never needs the arithmetic it protects.
"""

from __future__ import annotations

from datetime import date

FIRST_YEAR = 1900
LAST_YEAR = 2199


def is_in_service_span(moment: date) -> bool:
    """Whether ``moment`` (a date or datetime) lies in the years quanze computes with.

    >>> from datetime import date, datetime
    >>> is_in_service_span(date(2027, 1, 1)), is_in_service_span(date(9999, 12, 31))
    (True, False)
    >>> is_in_service_span(datetime.fromisoformat("0001-01-01T00:00:00+08:00"))
    False
    """
    return FIRST_YEAR <= moment.year <= LAST_YEAR
