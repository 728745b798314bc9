"""Rules, tickets and decisions as plain values.

A :class:`Rule` is one entry of the responsibility matrix: for a category (and its
descendants), optionally an area scope, attribute conditions (``when``) and keywords
(``text_any``), it names the lead (主办) and the co-handlers (协办), with its basis (依据).

>>> r = Rule(id="R-1", category="0301", lead=TERRITORIAL, basis="清单第12项",
...          when={"location_type": ("residential_compound",)}, text_any=("违建",))
>>> r.condition_count
2
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

#: The role "territorial unit of the ticket's area" (属地单位), usable as lead or co-handler.
TERRITORIAL = "@territorial"
ROLES = frozenset({TERRITORIAL})


class RuleSource(StrEnum):
    CATALOG = "catalog"
    RULING = "ruling"
    MANUAL = "manual"


class Status(StrEnum):
    ROUTED = "routed"
    FALLBACK = "fallback"
    AMBIGUOUS = "ambiguous"
    UNROUTED = "unrouted"
    #: The category carries an intake flag (jurisdiction.model.Intake): no lead at all.
    OUT_OF_SCOPE = "out_of_scope"


def canon_value(value: Any) -> str:
    """Attribute values compare as canonical strings: ``True`` → ``"true"``, ``3`` → ``"3"``.

    >>> canon_value(True), canon_value(3), canon_value("是")
    ('true', '3', '是')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


#: Characters a keyword or attribute value may not contain: the rule engine sees JSON escapes
#: in their place, so the two readers would disagree (measured; see docs/architecture.md).
UNPLAIN = frozenset('"\\') | frozenset(chr(i) for i in range(32))


def is_plain(literal: str) -> bool:
    """Can a keyword or attribute value be compared the same way by both readers?

    >>> is_plain("私搭乱建"), is_plain("1.5"), is_plain('say "hi"'), is_plain("")
    (True, True, False, False)
    """
    return bool(literal) and not any(ch in UNPLAIN for ch in literal)


def plain_text(text: str) -> str:
    """Ticket text as both readers see it: quotes, backslashes and control characters become
    spaces (the engine sees JSON escapes in their place).

    >>> plain_text('报修"急"')
    '报修 急 '
    """
    return text.translate(_PLAIN)


_PLAIN = {ord(ch): " " for ch in UNPLAIN}


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    category: str
    lead: str
    basis: str
    area: str | None = None
    when: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    text_any: tuple[str, ...] = ()
    co_handlers: tuple[str, ...] = ()
    source: RuleSource = RuleSource.CATALOG
    priority: int = 0
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    ruling_id: str | None = None
    note: str = ""
    revision: int = 1

    @property
    def condition_count(self) -> int:
        """Each ``when`` key and a non-empty ``text_any`` count as one condition."""
        return len(self.when) + (1 if self.text_any else 0)

    @property
    def authority(self) -> int:
        """Step 2 of the canon: a rule written back from a ruling outranks the catalogue."""
        return 1 if self.source is RuleSource.RULING else 0

    def is_valid_at(self, at: datetime) -> bool:
        if self.valid_from is not None and at < self.valid_from:
            return False
        return not (self.valid_to is not None and at >= self.valid_to)

    def content(self) -> dict[str, Any]:
        """The rule as a bundle entry (contract.md)."""
        return {
            "id": self.id,
            "category": self.category,
            "area": self.area,
            "when": {k: list(v) for k, v in self.when.items()},
            "text_any": list(self.text_any),
            "lead": self.lead,
            "co_handlers": list(self.co_handlers),
            "basis": self.basis,
            "source": self.source.value,
            "priority": self.priority,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "ruling_id": self.ruling_id,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Ticket:
    """What routing needs to know of a citizen request (诉求)."""

    category: str
    as_of: datetime
    area: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    text: str = ""
    ticket_id: str | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """District settings that resolution needs."""

    hotline_office: str | None = None
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One rule considered for a ticket and what became of it.

    ``step`` is a stable code: ``won``; ``category``, ``area``, ``when``, ``text``,
    ``validity`` (did not match); ``role`` (its lead could not be resolved), ``departmental``
    (would push a departmental matter down); ``specificity``, ``authority``, ``priority``,
    ``recency``, ``tie`` (matched, outranked at that step of the canon).
    """

    rule_id: str
    outcome: str  # "won" | "lost"
    step: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"rule_id": self.rule_id, "outcome": self.outcome, "step": self.step,
                "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one ticket: who leads, who assists, and why. Pure data; the service
    gives it an id and stores it."""

    status: Status
    lead: str | None
    co_handlers: tuple[str, ...]
    rule: Rule | None
    candidates: tuple[Candidate, ...]
    summary: str
    fallback_step: str | None = None  # category_default | derived_default | territorial |
    # hotline_office
    tied_rules: tuple[str, ...] = ()
    excluded_by_area: int = 0
    #: for ``out_of_scope``: the intake flag and the category that carries it
    intake: str | None = None
    intake_category: str | None = None
