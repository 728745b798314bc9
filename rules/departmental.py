"""Departmental matters (部门事项) and where their gaps go.

国办函〔2025〕66号 §五: matters that belong to functional departments must not be dispatched to
街乡 (不得分派给基层). A ticket's category is **departmental** when

- it or an ancestor is *marked* departmental (``Category.departmental``: a 收回 item, or a
  category the importer or an administrator marked), or
- a rule on it or on an ancestor names a department or a public utility as lead (a fixed unit
  of kind ``department`` or ``utility``) — whatever that rule's area in the ticket's district,
  its conditions and its validity. A 三定 rule that starts on 2025-03-01 makes its category
  departmental for a ticket dated 2024 as well, and a rule for one street makes the category
  departmental in the others: the matter belongs to that department.

Such a matter never falls back to a township, street or community unit. The fallback chain
walks the ticket's category path nearest first, so the deepest information wins; at each
category

1. an explicit mark with a ``default_unit`` that is not a territorial unit decides
   (step ``category_default``); a territorial default unit is passed over;
2. else the default derived from the department-led rules on that category decides (step
   ``derived_default``; see :func:`preference` for which rule names the unit).

A departmental path that yields no unit leaves the ticket with the hotline office. Only a
category that is neither marked nor given to a department by any rule falls back to the
territorial unit (属地兜底).

Deriving does not make territorial rules lose: a category whose rules give it to the street
under some conditions and to a department under others keeps both; only its gaps go to the
department. (An explicit mark does make territorial leads lose; see rules/resolution.py.)

Derived defaults are worked out once per matrix (:func:`derive_defaults`, called when a
``Matrix`` is built) and stored on its jurisdiction; routing only looks them up.

>>> from jurisdiction.model import *
>>> from rules.model import Rule
>>> j = Jurisdiction.build(
...     [Unit("JD-HP", "和平街道", UnitKind.STREET), Unit("D-SW", "区水务局", UnitKind.DEPARTMENT)],
...     [Area("1", "示范区", AreaLevel.DISTRICT, None, None),
...      Area("101", "和平街道", AreaLevel.TOWNSHIP, "1", "JD-HP")],
...     [Category("04", "市政", None), Category("0402", "供水", "04"),
...      Category("040201", "停水", "0402")])
>>> rules = [Rule("R-1", "0402", "D-SW", "三定", when={"kind": ("pipe",)})]
>>> j = j.with_derived_defaults(derive_defaults(j, rules))
>>> f = departmental_fallback(j.category_path("040201"), "1", j)
>>> f.unit, f.step, f.rule_id, f.category.code
('D-SW', 'derived_default', 'R-1', '0402')
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from jurisdiction.model import Category, DerivedDefault, Jurisdiction, Unit
from rules.model import Rule, RuleSource

#: The policy every message about departmental fallbacks cites.
POLICY = "国办函〔2025〕66号：职能部门事项不得分派给基层"

_LATEST = float("inf")
#: A sort key of :func:`preference` (smallest first).
Key = tuple[float, float, float, float, float, float, float, str]


def is_department_led(rule: Rule, units: Mapping[str, Unit]) -> bool:
    """Does the rule name a department or a utility (a fixed unit, not a role) as lead?

    >>> from jurisdiction.model import Unit, UnitKind
    >>> units = {"U": Unit("U", "自来水公司", UnitKind.UTILITY),
    ...          "J": Unit("J", "和平街道", UnitKind.STREET)}
    >>> [is_department_led(Rule("R", "04", lead, "b"), units)
    ...  for lead in ("U", "J", "@territorial")]
    [True, False, False]
    """
    unit = units.get(rule.lead)
    return unit is not None and unit.is_departmental


def preference(area_depth: int, conditions: int, valid_from: datetime | None,
               valid_to: datetime | None, authority: int, priority: int,
               ident: str) -> Key:
    """Sort key (smallest first) choosing which of several department-led rules on one
    category names its fallback unit:

    1. open-ended (no ``valid_to``) first, then the later end: a rule that has ended names a
       unit that no longer holds the matter;
    2. the widest scope: district-wide (no area, depth 0) first, then shallower scopes;
    3. fewer conditions (the unconditional rule first);
    4. the later ``valid_from`` (the newer rule; none counts as oldest);
    5. a ruling over the catalogue, then higher priority;
    6. the lowest id (or row), so the choice never depends on input order.

    The importer (rules/dutylist.py) picks a marked category's ``default_unit`` by the same key.
    """
    return _preference(area_depth, conditions,
                       valid_from.timestamp() if valid_from is not None else None,
                       valid_to.timestamp() if valid_to is not None else None,
                       authority, priority, ident)


def _preference(area_depth: int, conditions: int, valid_from: float | None,
                valid_to: float | None, authority: int, priority: int, ident: str) -> Key:
    return (0.0 if valid_to is None else 1.0, -valid_to if valid_to is not None else 0.0,
            float(area_depth), float(conditions),
            -valid_from if valid_from is not None else _LATEST,
            -float(authority), -float(priority), ident)


def _key(rule: Rule, j: Jurisdiction) -> Key:
    depth = j.area_depth(rule.area) if rule.area is not None else 0
    return preference(depth, rule.condition_count, rule.valid_from, rule.valid_to,
                      1 if rule.source is RuleSource.RULING else 0, rule.priority, rule.id)


def derive_defaults(jurisdiction: Jurisdiction, rules: Iterable[Rule]
                    ) -> dict[tuple[str, str | None], DerivedDefault]:
    """Per (category, district), the department or utility that takes the category's gaps
    because a rule on it names that unit as lead.

    For a district the candidates are the category's department-led rules without an area and
    those scoped inside that district (a city's districts have departments of their own); for a
    ticket without an area (key district None), the rules without an area only. Rules naming an
    unknown category, area or unit are skipped (``verify`` reports them as dangling).
    """
    j = jurisdiction
    # Runs over every rule on every new rule-set version (55,050 in the synthetic city): keys
    # are computed only where two rules compete and area paths once per area (measured on the
    # synthetic city: 1.0 s with a key and an area_path per rule, 0.1 s so).
    leads = {code for code, unit in j.units.items() if unit.is_departmental}
    scopes: dict[str, str] = {}  # area -> its district
    groups: dict[str, dict[str | None, list[Rule]]] = defaultdict(lambda: defaultdict(list))
    categories = j.categories
    for rule in rules:
        if rule.lead not in leads or rule.category not in categories:
            continue
        district = None
        if rule.area is not None:
            district = scopes.get(rule.area)
            if district is None:
                if rule.area not in j.areas:
                    continue
                district = scopes[rule.area] = j.district_of(rule.area)
        groups[rule.category][district].append(rule)
    districts = sorted(code for code, area in j.areas.items() if area.parent is None)
    derived: dict[tuple[str, str | None], DerivedDefault] = {}
    for code, by_district in groups.items():
        everywhere = _best(by_district.pop(None, []), j)
        if everywhere is not None:
            derived[(code, None)] = default = _default(everywhere)
            for district in districts:
                derived[(code, district)] = default
        for district, scoped in by_district.items():
            local = _best(scoped, j)
            if everywhere is not None and local is not None:
                local = _best([local, everywhere], j)
            if local is not None and local is not everywhere:
                derived[(code, district)] = _default(local)
    return derived


def _best(rules: list[Rule], j: Jurisdiction) -> Rule | None:
    if len(rules) < 2:
        return rules[0] if rules else None
    return min(rules, key=lambda rule: _key(rule, j))


def _default(rule: Rule) -> DerivedDefault:
    return DerivedDefault(rule.lead, rule.id)


def with_derived_defaults(jurisdiction: Jurisdiction, rules: Iterable[Rule]) -> Jurisdiction:
    """The jurisdiction with the derived defaults of ``rules`` (replacing any it had)."""
    return jurisdiction.with_derived_defaults(derive_defaults(jurisdiction, rules))


@dataclass(frozen=True, slots=True)
class DepartmentalFallback:
    """Where the fallback chain puts a departmental matter.

    ``unit`` None means no department could be named: the hotline office holds the ticket
    (``step`` ``hotline_office``). ``category`` is the category whose mark or rule decided (for
    ``hotline_office``: the nearest marked one), ``rule_id`` the rule that made the category
    departmental (step ``derived_default``), ``passed_over`` the territorial default units of
    marked categories that the chain refused.
    """

    unit: str | None
    step: str  # category_default | derived_default | hotline_office
    category: Category
    rule_id: str | None = None
    passed_over: tuple[str, ...] = ()


def departmental_fallback(category_path: Sequence[str], district: str | None,
                          jurisdiction: Jurisdiction) -> DepartmentalFallback | None:
    """The departmental step of the fallback chain for a ticket with this category path
    (nearest first) in ``district`` (None: no area); None when the matter is not departmental
    (then the territorial unit may take it)."""
    j = jurisdiction
    marked: Category | None = None
    passed_over: list[str] = []
    derived_defaults = j.derived_defaults
    for code in category_path:
        category = j.categories[code]
        if category.departmental:
            marked = marked or category
            if category.default_unit is not None:
                unit = j.units.get(category.default_unit)
                if unit is None or not unit.is_territorial:
                    return DepartmentalFallback(category.default_unit, "category_default",
                                                category, None, tuple(passed_over))
                passed_over.append(category.default_unit)
        derived = derived_defaults.get((code, district))
        if derived is not None:
            return DepartmentalFallback(derived.unit, "derived_default", category,
                                        derived.rule_id, tuple(passed_over))
    if marked is not None:
        return DepartmentalFallback(None, "hotline_office", marked, None, tuple(passed_over))
    return None


def is_usable_default(category: Category, units: Mapping[str, Unit]) -> bool:
    """A marked category's default unit that the chain accepts (set, and not territorial)."""
    if category.default_unit is None:
        return False
    unit = units.get(category.default_unit)
    return unit is None or not unit.is_territorial
