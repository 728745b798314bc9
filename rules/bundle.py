"""The bundle (contract.md): the whole matrix as one JSON document. Parsing reports every
problem with its JSON path (``rules[3].lead``); nothing is half-read.

>>> b = parse_bundle({"units": [{"code": "O-RX", "name": "热线中心", "kind": "office"}],
...                   "settings": {"hotline_office": "O-RX"}})
>>> b.units[0].name, b.settings.hotline_office
('热线中心', 'O-RX')
>>> parse_bundle({"units": [{"code": "X", "kind": "planet"}]})
Traceback (most recent call last):
...
jurisdiction.errors.BundleInvalid: bundle: 2 problem(s); nothing was written (count=2)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jurisdiction.errors import ProblemList
from jurisdiction.instants import FIRST_YEAR, LAST_YEAR, is_in_service_span
from jurisdiction.model import Area, AreaLevel, Category, Intake, Jurisdiction, Unit, UnitKind
from rules.model import ROLES, Rule, RuleSource, Settings, canon_value, is_plain

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")
ATTRIBUTE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_WHEN_KEYS = 16
MAX_WHEN_VALUES = 64
MAX_KEYWORDS = 64
#: A rule becomes one engine rule per combination of its `when` values; this bounds them.
MAX_WHEN_COMBINATIONS = 64
MAX_TEXT = 200_000
BUNDLE_KEYS = {"units", "areas", "categories", "settings", "rules"}


@dataclass
class Bundle:
    units: list[Unit] = field(default_factory=list)
    areas: list[Area] = field(default_factory=list)
    categories: list[Category] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    settings: Settings | None = None


def parse_datetime(value: Any) -> datetime:
    """An ISO 8601 time with a zone; raises ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 string with a time zone")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("must carry a time zone, e.g. 2026-01-01T00:00:00+08:00")
    if not is_in_service_span(parsed):
        raise ValueError(f"must lie between the years {FIRST_YEAR} and {LAST_YEAR}")
    return parsed


class _Reader:
    def __init__(self, problems: ProblemList) -> None:
        self.problems = problems

    def obj(self, value: Any, path: str, allowed: Iterable[str]) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.problems.add(path, "must be an object", code="invalid_type")
            return None
        for key in value:
            if key not in allowed:
                self.problems.add(f"{path}.{key}", f"unknown field {key!r}",
                                  code="unknown_field", field=str(key))
        return value

    def string(self, entry: Mapping[str, Any], key: str, path: str, *, required: bool = True,
               pattern: re.Pattern[str] | None = None, max_len: int = 500) -> str | None:
        value = entry.get(key)
        if value is None:
            if required:
                self.problems.add(f"{path}.{key}", "is required", code="missing", field=key)
            return None
        if not isinstance(value, str) or not value.strip():
            self.problems.add(f"{path}.{key}", "must be a non-empty string",
                              code="invalid_type", field=key)
            return None
        if len(value) > max_len:
            self.problems.add(f"{path}.{key}", f"longer than {max_len} characters",
                              code="too_long", field=key)
            return None
        if pattern is not None and not pattern.match(value):
            self.problems.add(f"{path}.{key}", f"{value!r} is not a valid code "
                              "(letters, digits, _ . : -, at most 64)", field=key)
            return None
        return value

    def enum(self, entry: Mapping[str, Any], key: str, path: str, kind: type[Any],
             default: Any = None) -> Any:
        value = entry.get(key)
        if value is None:
            if default is None:
                self.problems.add(f"{path}.{key}", "is required", code="missing", field=key)
            return default
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(m.value for m in kind)
            self.problems.add(f"{path}.{key}", f"{value!r} is not one of: {allowed}",
                              field=key)
            return default

    def time(self, entry: Mapping[str, Any], key: str, path: str) -> datetime | None:
        value = entry.get(key)
        if value is None:
            return None
        try:
            return parse_datetime(value)
        except ValueError as exc:
            self.problems.add(f"{path}.{key}", f"{value!r}: {exc}", field=key)
            return None

    def items(self, data: Mapping[str, Any], key: str) -> list[tuple[str, Any]]:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problems.add(key, "must be a list", code="invalid_type")
            return []
        return [(f"{key}[{i}]", item) for i, item in enumerate(value)]


def _is_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def parse_bundle(data: Any, *, what: str = "bundle") -> Bundle:
    """Read a bundle document; raise BundleInvalid with every problem found."""
    problems = ProblemList()
    r = _Reader(problems)
    bundle = Bundle()
    top = r.obj(data, "$", BUNDLE_KEYS)
    if top is None:
        problems.raise_if_any(what)
        return bundle
    for path, item in r.items(top, "units"):
        unit = _unit(r, item, path)
        if unit:
            bundle.units.append(unit)
    for path, item in r.items(top, "areas"):
        area = _area(r, item, path)
        if area:
            bundle.areas.append(area)
    for path, item in r.items(top, "categories"):
        category = _category(r, item, path)
        if category:
            bundle.categories.append(category)
    for path, item in r.items(top, "rules"):
        rule = parse_rule(r, item, path)
        if rule:
            bundle.rules.append(rule)
    if top.get("settings") is not None:
        s = r.obj(top["settings"], "settings", {"hotline_office", "timezone"})
        if s is not None:
            timezone = r.string(s, "timezone", "settings", required=False) or "Asia/Shanghai"
            if not _is_time_zone(timezone):
                # Statistics and graphs count days in it: an unknown zone would break them.
                problems.add("settings.timezone", f"{timezone!r} is not a known time zone",
                             code="invalid_timezone", field="timezone")
            bundle.settings = Settings(
                hotline_office=r.string(s, "hotline_office", "settings", required=False,
                                        pattern=CODE_RE),
                timezone=timezone)
    _duplicates(problems, "units", [u.code for u in bundle.units])
    _duplicates(problems, "areas", [a.code for a in bundle.areas])
    _duplicates(problems, "categories", [c.code for c in bundle.categories])
    _duplicates(problems, "rules", [x.id for x in bundle.rules])
    problems.raise_if_any(what)
    return bundle


def _duplicates(problems: ProblemList, key: str, codes: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, code in enumerate(codes):
        if code in seen:
            problems.add(f"{key}[{i}]", f"duplicate code {code!r} (first at {key}[{seen[code]}])",
                         code="duplicate")
        seen.setdefault(code, i)


def _unit(r: _Reader, item: Any, path: str) -> Unit | None:
    e = r.obj(item, path, {"code", "name", "kind"})
    if e is None:
        return None
    code = r.string(e, "code", path, pattern=CODE_RE)
    name = r.string(e, "name", path)
    kind = r.enum(e, "kind", path, UnitKind)
    return Unit(code, name, kind) if code and name and kind else None


def _area(r: _Reader, item: Any, path: str) -> Area | None:
    e = r.obj(item, path, {"code", "name", "level", "parent", "unit"})
    if e is None:
        return None
    code = r.string(e, "code", path, pattern=CODE_RE)
    name = r.string(e, "name", path)
    level = r.enum(e, "level", path, AreaLevel)
    parent = r.string(e, "parent", path, required=False, pattern=CODE_RE)
    unit = r.string(e, "unit", path, required=False, pattern=CODE_RE)
    return Area(code, name, level, parent, unit) if code and name and level else None


def _category(r: _Reader, item: Any, path: str) -> Category | None:
    e = r.obj(item, path, {"code", "name", "parent", "departmental", "default_unit", "intake"})
    if e is None:
        return None
    code = r.string(e, "code", path, pattern=CODE_RE)
    name = r.string(e, "name", path)
    parent = r.string(e, "parent", path, required=False, pattern=CODE_RE)
    departmental = e.get("departmental", False)
    if departmental is None:
        departmental = False
    if not isinstance(departmental, bool):
        r.problems.add(f"{path}.departmental", "must be true or false", field="departmental")
        departmental = False
    default_unit = r.string(e, "default_unit", path, required=False, pattern=CODE_RE)
    intake = _intake(r, e, path)
    return (Category(code, name, parent, departmental, default_unit, intake)
            if code and name else None)


def _intake(r: _Reader, entry: Mapping[str, Any], path: str) -> Intake | None:
    """A category's optional intake flag (``not_accepted``, ``transfer_110`` …)."""
    if entry.get("intake") is None:
        return None
    intake: Intake | None = r.enum(entry, "intake", path, Intake)
    return intake


RULE_FIELDS = {"id", "category", "area", "when", "text_any", "lead", "co_handlers", "basis",
               "source", "priority", "valid_from", "valid_to", "ruling_id", "note"}


def parse_rule(r: _Reader, item: Any, path: str) -> Rule | None:
    """One rule entry; problems go to ``r.problems``."""
    e = r.obj(item, path, RULE_FIELDS)
    if e is None:
        return None
    before = len(r.problems.problems)
    rule_id = r.string(e, "id", path, pattern=CODE_RE)
    category = r.string(e, "category", path, pattern=CODE_RE)
    area = r.string(e, "area", path, required=False, pattern=CODE_RE)
    lead = _party(r, e.get("lead"), f"{path}.lead", "lead")
    co_raw = e.get("co_handlers") or []
    co: list[str] = []
    if not isinstance(co_raw, list):
        r.problems.add(f"{path}.co_handlers", "must be a list", field="co_handlers")
    else:
        for i, c in enumerate(co_raw):
            party = _party(r, c, f"{path}.co_handlers[{i}]", "co_handlers")
            if party:
                co.append(party)
    basis = r.string(e, "basis", path, max_len=2000)
    source = r.enum(e, "source", path, RuleSource, RuleSource.CATALOG)
    priority = e.get("priority", 0)
    if priority is None:
        priority = 0
    if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > 10**6:
        r.problems.add(f"{path}.priority", "must be an integer between -1000000 and 1000000",
                       field="priority")
        priority = 0
    valid_from = r.time(e, "valid_from", path)
    valid_to = r.time(e, "valid_to", path)
    if valid_from and valid_to and valid_to <= valid_from:
        r.problems.add(f"{path}.valid_to", "must be later than valid_from", field="valid_to")
    when = _when(r, e.get("when"), f"{path}.when")
    text_any = _keywords(r, e.get("text_any"), f"{path}.text_any")
    ruling_id = r.string(e, "ruling_id", path, required=False, pattern=CODE_RE)
    note = e.get("note") or ""
    if not isinstance(note, str):
        r.problems.add(f"{path}.note", "must be a string", field="note")
        note = ""
    if len(r.problems.problems) > before or not (rule_id and category and lead and basis):
        return None
    return Rule(id=rule_id, category=category, area=area, when=when, text_any=text_any,
                lead=lead, co_handlers=tuple(co), basis=basis, source=source,
                priority=priority, valid_from=valid_from, valid_to=valid_to,
                ruling_id=ruling_id, note=note)


def _party(r: _Reader, value: Any, path: str, name: str) -> str | None:
    if value is None:
        r.problems.add(path, "is required", code="missing", field=name)
        return None
    if not isinstance(value, str) or not (value in ROLES or CODE_RE.match(value)):
        r.problems.add(path, f"{value!r} must be a unit code or a role "
                       f"({', '.join(sorted(ROLES))})", field=name)
        return None
    return value


def _when(r: _Reader, value: Any, path: str) -> dict[str, tuple[str, ...]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        r.problems.add(path, "must be an object of attribute → value or list", field="when")
        return {}
    if len(value) > MAX_WHEN_KEYS:
        r.problems.add(path, f"at most {MAX_WHEN_KEYS} attributes", field="when")
        return {}
    result: dict[str, tuple[str, ...]] = {}
    for key, allowed in value.items():
        if not isinstance(key, str) or not ATTRIBUTE_RE.match(key):
            r.problems.add(f"{path}.{key}", "attribute names are letters, digits and _ "
                           "(starting with a letter)", field="when")
            continue
        values = allowed if isinstance(allowed, list) else [allowed]
        if not values or len(values) > MAX_WHEN_VALUES or not all(
                isinstance(v, str | int | float | bool) and is_plain(canon_value(v))
                and len(canon_value(v)) <= 200 for v in values):
            r.problems.add(f"{path}.{key}", f"must be a value or a list of 1 to "
                           f"{MAX_WHEN_VALUES} non-empty strings (at most 200 characters, without "
                           "quotes, backslashes or control characters), numbers or booleans",
                           field="when")
            continue
        result[key] = tuple(dict.fromkeys(canon_value(v) for v in values))
    combinations = 1
    for allowed_values in result.values():
        combinations *= len(allowed_values)
    if combinations > MAX_WHEN_COMBINATIONS:
        r.problems.add(path, f"the lists allow {combinations} combinations of values; at most "
                       f"{MAX_WHEN_COMBINATIONS} (split the rule)", code="too_large",
                       field="when")
        return {}
    return result


def _keywords(r: _Reader, value: Any, path: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if (not isinstance(value, list) or len(value) > MAX_KEYWORDS
            or not all(isinstance(v, str) and v.strip() and len(v) <= 100
                       and is_plain(v) for v in value)):
        r.problems.add(path, f"must be a list of at most {MAX_KEYWORDS} non-empty strings "
                       "of at most 100 characters, without quotes, backslashes or control "
                       "characters", field="text_any")
        return ()
    return tuple(dict.fromkeys(value))


def check_references(jurisdiction: Jurisdiction, rules: Iterable[Rule],
                     settings: Settings | None, problems: ProblemList,
                     where: Mapping[str, str] | None = None) -> None:
    """Problems for codes that name nothing. ``where`` maps rule ids to their location."""
    where = where or {}
    for rule in rules:
        loc = where.get(rule.id, f"rules[{rule.id}]")
        if rule.category not in jurisdiction.categories:
            problems.add(f"{loc}.category", f"unknown category {rule.category!r}",
                         code="category_not_found", field="category")
        if rule.area is not None and rule.area not in jurisdiction.areas:
            problems.add(f"{loc}.area", f"unknown area {rule.area!r}", code="area_not_found",
                         field="area")
        for name, code in [("lead", rule.lead), *(("co_handlers", c) for c in rule.co_handlers)]:
            if code not in ROLES and code not in jurisdiction.units:
                problems.add(f"{loc}.{name}", f"unknown unit {code!r}", code="unit_not_found",
                             field=name)
    if settings and settings.hotline_office and settings.hotline_office not in jurisdiction.units:
        problems.add("settings.hotline_office", f"unknown unit {settings.hotline_office!r}",
                     code="unit_not_found", field="hotline_office")


def check_jurisdiction(units: Mapping[str, Unit], areas: Mapping[str, Area],
                       categories: Mapping[str, Category], problems: ProblemList,
                       where: Mapping[str, str] | None = None) -> None:
    """Problems in the hierarchy: unknown parents and units, cycles."""
    where = where or {}
    for code, area in areas.items():
        loc = where.get(f"area:{code}", f"areas[{code}]")
        if area.parent is not None and area.parent not in areas:
            problems.add(f"{loc}.parent", f"unknown parent area {area.parent!r}",
                         code="area_not_found", field="parent")
        if area.unit is not None and area.unit not in units:
            problems.add(f"{loc}.unit", f"unknown unit {area.unit!r}", code="unit_not_found",
                         field="unit")
    for code, cat in categories.items():
        loc = where.get(f"category:{code}", f"categories[{code}]")
        if cat.parent is not None and cat.parent not in categories:
            problems.add(f"{loc}.parent", f"unknown parent category {cat.parent!r}",
                         code="category_not_found", field="parent")
        if cat.default_unit is not None and cat.default_unit not in units:
            problems.add(f"{loc}.default_unit", f"unknown unit {cat.default_unit!r}",
                         code="unit_not_found", field="default_unit")
    for kind, items in (("area", areas), ("category", categories)):
        for code in items:
            seen: set[str] = set()
            current: str | None = code
            while current is not None and current in items:
                if current in seen:
                    problems.add(where.get(f"{kind}:{code}", f"{kind}:{code}"),
                                 f"{kind} hierarchy has a cycle through {code!r}",
                                 code=f"{kind}_cycle", field="parent")
                    break
                seen.add(current)
                current = items[current].parent


def dump_bundle(jurisdiction: Jurisdiction, rules: Iterable[Rule],
                settings: Settings) -> dict[str, Any]:
    """The matrix as a bundle document; ``parse_bundle(dump_bundle(...))`` gives it back."""
    return {
        "units": [{"code": u.code, "name": u.name, "kind": u.kind.value}
                  for u in sorted(jurisdiction.units.values(), key=lambda u: u.code)],
        "areas": [{"code": a.code, "name": a.name, "level": a.level.value, "parent": a.parent,
                   "unit": a.unit}
                  for a in sorted(jurisdiction.areas.values(), key=lambda a: a.code)],
        "categories": [_category_entry(c)
                       for c in sorted(jurisdiction.categories.values(), key=lambda c: c.code)],
        "settings": {"hotline_office": settings.hotline_office, "timezone": settings.timezone},
        "rules": [r.content() for r in sorted(rules, key=lambda r: r.id)],
    }


def _category_entry(c: Category) -> dict[str, Any]:
    """A category as a bundle entry; ``intake`` only where a flag is set."""
    entry: dict[str, Any] = {"code": c.code, "name": c.name, "parent": c.parent,
                             "departmental": c.departmental, "default_unit": c.default_unit}
    if c.intake is not None:
        entry["intake"] = c.intake.value
    return entry
