"""The jurisdiction model as plain values: units, areas and categories, and the lookups routing
needs (ancestry, depth, the territorial unit 属地单位 of an area).

>>> j = Jurisdiction.build(
...     units=[Unit("JD-HP", "和平街道", UnitKind.STREET)],
...     areas=[Area("110199", "示范区", AreaLevel.DISTRICT, None, None),
...            Area("110199001", "和平街道", AreaLevel.TOWNSHIP, "110199", "JD-HP"),
...            Area("110199001001", "和平里社区", AreaLevel.COMMUNITY, "110199001", None)],
...     categories=[Category("03", "城乡建设", None), Category("0301", "违法建设", "03")],
... )
>>> j.area_path("110199001001")
('110199001001', '110199001', '110199')
>>> j.territorial_unit("110199001001")
'JD-HP'
>>> j.category_depth("0301")
2
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from jurisdiction.errors import InvalidInput, NotFound


class UnitKind(StrEnum):
    DEPARTMENT = "department"
    TOWNSHIP = "township"
    STREET = "street"
    COMMUNITY = "community"
    UTILITY = "utility"
    OFFICE = "office"


class AreaLevel(StrEnum):
    DISTRICT = "district"
    TOWNSHIP = "township"  # townships (乡镇) and streets (街道) alike
    COMMUNITY = "community"
    GRID = "grid"


AREA_LEVEL_RANK = {AreaLevel.DISTRICT: 1, AreaLevel.TOWNSHIP: 2, AreaLevel.COMMUNITY: 3,
                   AreaLevel.GRID: 4}

class Intake(StrEnum):
    """An intake flag on a category (受理口径): the hotline does not dispatch such a request at
    all. ``not_accepted``: not accepted by 12345 (不予受理, e.g. matters in litigation or
    arbitration); ``transfer_1xx``: an emergency the hotline transfers to 110 (police), 119
    (fire), 120 (ambulance) or 122 (traffic accidents), per the 12345 / 110 linkage
    (国办发〔2020〕53号; domain.md §5a)."""

    NOT_ACCEPTED = "not_accepted"
    TRANSFER_110 = "transfer_110"
    TRANSFER_119 = "transfer_119"
    TRANSFER_120 = "transfer_120"
    TRANSFER_122 = "transfer_122"

    @property
    def label(self) -> str:
        """The words staff read.

        >>> Intake("transfer_110").label
        '转110（公安）'
        """
        return INTAKE_LABELS[self]


INTAKE_LABELS = {
    Intake.NOT_ACCEPTED: "不予受理", Intake.TRANSFER_110: "转110（公安）",
    Intake.TRANSFER_119: "转119（消防）", Intake.TRANSFER_120: "转120（急救）",
    Intake.TRANSFER_122: "转122（交通事故）",
}


#: Unit kinds that count as the territorial level; a departmental matter never falls to them.
TERRITORIAL_KINDS = frozenset({UnitKind.TOWNSHIP, UnitKind.STREET, UnitKind.COMMUNITY})
#: Unit kinds whose lead makes a matter departmental (职能部门 and public utilities).
DEPARTMENT_KINDS = frozenset({UnitKind.DEPARTMENT, UnitKind.UTILITY})


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit that can receive tickets: a department (职能部门), a township or street (乡镇/街道),
    a community, a public-utility company, or an office."""

    code: str
    name: str
    kind: UnitKind

    @property
    def is_territorial(self) -> bool:
        return self.kind in TERRITORIAL_KINDS

    @property
    def is_departmental(self) -> bool:
        """A department or a public utility: a lead that makes a matter departmental."""
        return self.kind in DEPARTMENT_KINDS


@dataclass(frozen=True, slots=True)
class Area:
    """A node of the area hierarchy; ``unit`` governs it (属地单位) and may be None below
    township level."""

    code: str
    name: str
    level: AreaLevel
    parent: str | None
    unit: str | None


@dataclass(frozen=True, slots=True)
class Category:
    """A matter class (事项分类). Leaves may be ``departmental`` (a reclaimed or departmental
    matter: never pushed down to a township) with a ``default_unit``. A category with an
    ``intake`` flag, and everything under it, is not dispatched: routing reports the flag
    instead of a lead (:class:`Intake`)."""

    code: str
    name: str
    parent: str | None
    departmental: bool = False
    default_unit: str | None = None
    intake: Intake | None = None


@dataclass(frozen=True, slots=True)
class DerivedDefault:
    """Where a category's gaps go because a rule gives it to a department or utility
    (国办函〔2025〕66号: 职能部门事项不得分派给基层): ``unit`` is that rule's lead, ``rule_id``
    the rule. Worked out from the rules when a matrix is built (see
    :func:`rules.departmental.derive_defaults`); never stored."""

    unit: str
    rule_id: str


@dataclass(frozen=True)
class Jurisdiction:
    """An immutable snapshot of units, areas and categories with precomputed ancestry.

    ``derived_defaults`` maps (category code, district code or None) to the category's
    :class:`DerivedDefault` for tickets of that district (None: a ticket without an area);
    empty unless the snapshot was built with the rules of a matrix."""

    units: Mapping[str, Unit]
    areas: Mapping[str, Area]
    categories: Mapping[str, Category]
    _area_paths: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _category_paths: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _children: dict[str, list[str]] = field(default_factory=dict, repr=False)
    derived_defaults: Mapping[tuple[str, str | None], DerivedDefault] = field(
        default_factory=dict, repr=False)

    @classmethod
    def build(cls, units: Iterable[Unit], areas: Iterable[Area],
              categories: Iterable[Category]) -> Jurisdiction:
        j = cls({u.code: u for u in units}, {a.code: a for a in areas},
                {c.code: c for c in categories})
        for code in j.areas:
            j._area_paths[code] = _path(code, j.areas, "area")
        for code, cat in j.categories.items():
            j._category_paths[code] = _path(code, j.categories, "category")
            if cat.parent is not None:
                j._children.setdefault(cat.parent, []).append(code)
        return j

    @classmethod
    def empty(cls) -> Jurisdiction:
        return cls.build([], [], [])

    def with_derived_defaults(
            self, derived: Mapping[tuple[str, str | None], DerivedDefault]) -> Jurisdiction:
        """The same snapshot (ancestry shared, not recomputed) with ``derived_defaults``."""
        return replace(self, derived_defaults=derived)

    # -- lookups -------------------------------------------------------------------------
    def unit(self, code: str) -> Unit:
        try:
            return self.units[code]
        except KeyError:
            raise NotFound(f"unknown unit {code!r}", code="unit_not_found",
                           unit_code=code) from None

    def area(self, code: str) -> Area:
        try:
            return self.areas[code]
        except KeyError:
            raise NotFound(f"unknown area {code!r}", code="area_not_found",
                           area_code=code) from None

    def category(self, code: str) -> Category:
        try:
            return self.categories[code]
        except KeyError:
            raise NotFound(f"unknown category {code!r}", code="category_not_found",
                           category_code=code) from None

    # -- ancestry ------------------------------------------------------------------------
    def area_path(self, code: str) -> tuple[str, ...]:
        """The area and its ancestors, nearest first."""
        self.area(code)
        return self._area_paths[code]

    def category_path(self, code: str) -> tuple[str, ...]:
        """The category and its ancestors, nearest first."""
        self.category(code)
        return self._category_paths[code]

    def area_depth(self, code: str) -> int:
        return len(self.area_path(code))

    def category_depth(self, code: str) -> int:
        return len(self.category_path(code))

    def is_area_within(self, code: str, scope: str) -> bool:
        """True when ``scope`` is ``code`` or one of its ancestors."""
        return scope in self.area_path(code)

    def is_category_within(self, code: str, scope: str) -> bool:
        return scope in self.category_path(code)

    def intake_category(self, code: str) -> Category | None:
        """The nearest category on ``code``'s path (itself first) that carries an intake
        flag; None when the matter is for dispatch."""
        for step in self.category_path(code):
            category = self.categories[step]
            if category.intake is not None:
                return category
        return None

    def category_children(self, code: str) -> list[str]:
        return list(self._children.get(code, ()))

    def category_leaves(self) -> list[str]:
        return sorted(c for c in self.categories if c not in self._children)

    def townships(self) -> list[Area]:
        return sorted((a for a in self.areas.values() if a.level is AreaLevel.TOWNSHIP),
                      key=lambda a: a.code)

    def township_of(self, area_code: str) -> Area | None:
        """The nearest township-level area that is ``area_code`` or an ancestor of it."""
        for code in self.area_path(area_code):
            area = self.areas[code]
            if area.level is AreaLevel.TOWNSHIP:
                return area
        return None

    def territorial_unit(self, area_code: str) -> str | None:
        """The unit of the ticket's nearest township-level area (属地单位), even where a
        community below it has a unit of its own; None when there is none."""
        township = self.township_of(area_code)
        return township.unit if township is not None else None

    def district_of(self, area_code: str) -> str:
        """The top of the area's path (its district)."""
        return self.area_path(area_code)[-1]


def unit_ref(units: Mapping[str, Unit], code: str | None) -> dict[str, str] | None:
    """A unit as responses show it: ``{code, name, kind}`` (kind ``unknown`` for a code the
    model no longer has, e.g. in an old record).

    >>> unit_ref({"JD-HP": Unit("JD-HP", "和平街道", UnitKind.STREET)}, "JD-HP")
    {'code': 'JD-HP', 'name': '和平街道', 'kind': 'street'}
    """
    if code is None:
        return None
    unit = units.get(code)
    if unit is None:
        return {"code": code, "name": code, "kind": "unknown"}
    return {"code": unit.code, "name": unit.name, "kind": unit.kind.value}


def _path(code: str, items: Mapping[str, Area] | Mapping[str, Category],
          what: str) -> tuple[str, ...]:
    path: list[str] = []
    seen: set[str] = set()
    current: str | None = code
    while current is not None:
        if current in seen:
            raise InvalidInput(f"{what} hierarchy has a cycle at {current!r}",
                               code=f"{what}_cycle", **{f"{what}_code": current})
        if current not in items:
            raise NotFound(f"unknown parent {what} {current!r}", code=f"{what}_not_found",
                           **{f"{what}_code": current})
        seen.add(current)
        path.append(current)
        current = items[current].parent
    return tuple(path)
