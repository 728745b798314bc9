"""Chinese for staff (api/zh.py): every error code raised anywhere in the code base has a
Chinese message, the messages carry no English, and form fields have Chinese labels.

The codes are found by reading the source at test time, so a new code without a Chinese
message fails here. The scan parses the source (``ast``) rather than matching one regex: codes
passed positionally to helpers (``_conflict(message, "not_owner", state)``) and calls spread
over several lines are found too; a plain regex over ``code="…"`` cross-checks the parse.
"""

from __future__ import annotations

import ast
import doctest
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from api import zh
from api.auth import ROLES
from arbitration import calendar, tickets
from arbitration.disputes import (
    Arbiter,
    DisputeReason,
    DisputeStatus,
    check_impartial,
    claim,
    open_dispute,
)
from arbitration.policy import DEFAULT_POLICY, DISPUTE_STAGES, REASON_CODES, Policy
from arbitration.tickets import OUT_OF_SCOPE_OUTCOMES, Event, EventType, TicketState, TicketStatus
from jurisdiction.errors import QuanzeError
from jurisdiction.model import Area, AreaLevel, Category, Jurisdiction, Unit, UnitKind

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("jurisdiction", "rules", "arbitration", "api")

#: Codes built from f-strings, with every value they take (read the raise sites to update).
DYNAMIC_CODES = {
    "f'{what}_cycle'": {"area_cycle", "category_cycle"},       # jurisdiction/model.py _path
    "f'{what}_not_found'": {"area_not_found", "category_not_found"},
    "f'{kind}_cycle'": {"area_cycle", "category_cycle"},       # rules/bundle.py
    "f'{kind[:-1]}_exists'": {"unit_exists", "area_exists", "category_exists"},  # rules/admin
    "f'{kind[:-1]}_not_found'": {"unit_not_found", "area_not_found", "category_not_found"},
}


@dataclass(frozen=True)
class Site:
    """One place that raises (or records) an error code, with the keyword context it passes."""

    path: str
    line: int
    code: str
    context: tuple[str, ...]
    field: str | None


def source_files() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            # zh.py is the table of messages itself (its examples raise made-up codes)
            if "migrations" not in path.parts and path != ROOT / "api" / "zh.py":
                yield path


def _code_helpers(trees: list[ast.Module]) -> dict[str, int]:
    """Functions that take a ``code`` parameter and pass it on as ``code=code``: name →
    position of ``code`` among the call's positional arguments (``self`` left out)."""
    helpers: dict[str, int] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            names = [a.arg for a in node.args.args]
            if "code" not in names:
                continue
            forwards = any(isinstance(c, ast.Call) and any(
                k.arg == "code" and isinstance(k.value, ast.Name) and k.value.id == "code"
                for k in c.keywords) for c in ast.walk(node))
            if forwards:
                helpers[node.name] = names.index("code") - (names[:1] == ["self"])
    return helpers


def _values(node: ast.expr) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _values(node.body) | _values(node.orelse)
    if isinstance(node, ast.JoinedStr):
        template = ast.unparse(node)
        assert template in DYNAMIC_CODES, f"a new code template {template}: add it above"
        return DYNAMIC_CODES[template]
    return set()


def scan() -> list[Site]:
    """Every error code in the source: ``code=`` arguments (literal, conditional or f-string),
    codes handed positionally to a forwarding helper, and ``default_code`` of error classes."""
    files = list(source_files())
    trees = [ast.parse(p.read_text(encoding="utf-8"), str(p)) for p in files]
    helpers = _code_helpers(trees)
    sites: list[Site] = []
    for path, tree in zip(files, trees, strict=True):
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "default_code" for t in node.targets):
                sites += [Site(rel, node.lineno, c, (), None) for c in _values(node.value)]
            if not isinstance(node, ast.Call):
                continue
            found: set[str] = set()
            for kw in node.keywords:
                if kw.arg == "code":
                    found |= _values(kw.value)
            name = node.func.id if isinstance(node.func, ast.Name) else (
                node.func.attr if isinstance(node.func, ast.Attribute) else "")
            if name in helpers and len(node.args) > helpers[name]:
                found |= _values(node.args[helpers[name]])
            context = tuple(kw.arg for kw in node.keywords if kw.arg not in (None, "code"))
            field = next((kw.value.value for kw in node.keywords if kw.arg in ("field", "column")
                          and isinstance(kw.value, ast.Constant)
                          and isinstance(kw.value.value, str)), None)
            sites += [Site(rel, node.lineno, c, context, field) for c in sorted(found)]
    return sites


SITES = scan()
CODES = sorted({s.code for s in SITES})


def test_the_scan_finds_the_codes_raised_across_the_code_base() -> None:
    assert len(CODES) > 80
    # one from each package, including positional, conditional, dynamic and default codes
    for code in ("area_cycle", "invalid_policy", "conflict_of_interest", "return_window_passed",
                 "policy_violation", "unit_exists", "bundle_invalid", "view_not_available",
                 "graph_too_large"):
        assert code in CODES
    # a plain regex over literal keyword codes finds nothing the parse missed
    literal = re.compile(r"\bcode=\"([a-z][a-z0-9_]*)\"")
    by_regex = {m for p in source_files() for m in literal.findall(p.read_text("utf-8"))}
    assert len(by_regex) > 80
    assert by_regex <= set(CODES)


@pytest.mark.parametrize("code", CODES)
def test_every_code_raised_in_the_source_has_a_chinese_message(code: str) -> None:
    assert code in zh.MESSAGES, f"no Chinese message for {code}: add one to api/zh.py"


def test_every_chinese_message_belongs_to_a_code_that_is_raised() -> None:
    assert set(zh.MESSAGES) - set(CODES) == set()


#: A stand-in value for each context key a raise site passes.
SAMPLES: dict[str, Any] = {
    "deadline": "2026-12-01T17:00:00+08:00", "signed_at": "2026-11-30T09:30:00+08:00",
    "at": "2026-11-30T09:30:00+08:00", "status": "ruled", "type": "completed",
    "outcome": "informed", "role": "viewer", "limit": 100, "count": 3, "version": 7,
    "retiring": 12, "live": 40, "node_count": 5000, "max_nodes": 2000, "cell_count": 9000,
    "max_cells": 4000, "problems": 2, "timeout": 5.0, "filters": ["category", "area"],
    "arbiter": "王敏", "value": "Q-7",
}


def _ascii_words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z]+", text))


def _allowed(code: str, context: dict[str, Any]) -> set[str]:
    return _ascii_words(code) | {w for v in context.values() for w in _ascii_words(str(v))}


def _context(site: Site) -> dict[str, Any]:
    ctx = {key: SAMPLES.get(key, f"X-{key}") for key in site.context}
    if "field" in ctx:
        ctx["field"] = site.field or "lead"
    return ctx


@pytest.mark.parametrize("site", SITES, ids=lambda s: f"{s.path}:{s.line}:{s.code}")
def test_the_message_of_every_raise_site_is_chinese_and_filled(site: Site) -> None:
    ctx = _context(site)
    text = zh.message(QuanzeError("English words here", code=site.code, **ctx))
    assert "{" not in text and "English" not in text
    assert re.search(r"[\u4e00-\u9fff]", text)
    stray = _ascii_words(text) - _allowed(site.code, ctx)
    assert not stray, f"{site.code}: {text}"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace(" ", "T") + "+08:00")


T0 = at("2026-11-23 09:00")


def _raised(action: Any) -> QuanzeError:
    with pytest.raises(QuanzeError) as caught:
        action()
    return caught.value


def _dispute() -> Any:
    return open_dispute("DSP-1", parties=("D-CG", "JD-HP"), reason="bounce", opened_at=T0,
                        ticket_id="T1", category="030101", area="110199001")


def _jurisdiction() -> Jurisdiction:
    return Jurisdiction.build(
        [Unit("JD-HP", "和平街道", UnitKind.STREET)],
        [Area("1", "示范区", AreaLevel.DISTRICT, None, None)], [Category("03", "供水", None)])


def _late_return() -> None:
    s = tickets.apply(TicketState("T1"), Event("dispatched", at("2025-09-30 10:00"),
                                               unit="D-CG")).state
    tickets.apply(s, Event("return_requested", at("2025-10-09 10:01"), unit="D-CG",
                           reason_code="territory_mismatch", basis="清单"))


def _return_by_another() -> None:
    s = tickets.apply(TicketState("T1"), Event("dispatched", T0, unit="D-CG")).state
    tickets.apply(s, Event("return_requested", T0, unit="JD-HP",
                           reason_code="territory_mismatch", basis="清单"))


#: Real errors raised by the domain, and the Chinese each must read as.
REAL_ERRORS: list[tuple[Any, str]] = [
    (lambda: _jurisdiction().unit("D-XX"), "没有代码为「D-XX」的单位"),
    (lambda: _jurisdiction().category("99"), "没有代码为「99」的事项分类"),
    (lambda: check_impartial(_dispute(), Arbiter("k1", "李华", unit="D-CG")),
     "您所在单位是本争议当事方，应当回避"),
    (lambda: claim(claim(_dispute(), Arbiter("k1", "王敏"), T0), Arbiter("k2", "李华"), T0),
     "该争议已由 王敏 认领"),
    (lambda: open_dispute("D2", parties=("D-CG",), reason="because", opened_at=T0),
     "不支持的争议原因「because」"),
    (lambda: open_dispute("D2", parties=(), reason="manual", opened_at=T0),
     "争议至少应有一个当事单位"),
    (_late_return,
     "退单时限已于2025年10月9日 星期四 10:00届满，该工单视为「D-CG」已接收，不得退单"),
    (_return_by_another, "只有当前承办单位「D-CG」可以办理此项操作"),
    (lambda: DEFAULT_POLICY.reason_label("too_far"), "退单原因「too_far」不在规定的退单原因之列"),
    (lambda: Policy.from_dict({"bounce_cap": 0}), "时限政策中「派单次数上限」的取值「0」无效"),
    (lambda: calendar.add_working_days(T0, -1), "工作日数「-1」无效，应为不小于零的数字"),
]


@pytest.mark.parametrize(("action", "expected"), REAL_ERRORS)
def test_real_errors_read_as_formal_chinese(action: Any, expected: str) -> None:
    err = _raised(action)
    text = zh.message(err)
    assert text == expected
    assert not _ascii_words(text) - _allowed(err.code, err.context)


def test_an_unknown_code_gets_a_generic_chinese_sentence_naming_it_not_the_english() -> None:
    err = QuanzeError("the flux capacitor overheated", code="flux_overheated", temp=99)
    text = zh.message(err)
    assert "flux_overheated" in text and "capacitor" not in text
    assert re.search(r"[\u4e00-\u9fff]{4}", text)


@pytest.mark.parametrize(("field", "label"), [
    ("lead", "主办单位"), ("co_handlers", "协办单位"), ("reasoning", "裁定理由"),
    ("basis", "依据"), ("document_no", "文号"), ("text", "陈述内容"),
    ("proposed_lead", "建议主办单位"), ("reason_code", "退单原因"), ("category", "事项分类"),
    ("area", "区域"), ("unit", "单位"), ("to_unit", "改派单位"), ("login", "用户名"),
    ("password", "密码"), ("generalize.category", "推广范围的事项分类"),
    ("generalize.area", "推广范围的区域"), ("co_handlers.1", "协办单位（第2项）"),
    ("co_handlers[0]", "协办单位（第1项）"), ("retire_rules[2]", "停用规则（第3项）"),
])
def test_ruling_and_form_fields_have_chinese_labels(field: str, label: str) -> None:
    assert zh.field_label(field) == label


def test_every_field_named_at_a_raise_site_has_a_chinese_label() -> None:
    fields = {s.field for s in SITES if s.field and not re.search(r"[\u4e00-\u9fff]", s.field)}
    assert fields
    assert {f for f in fields if zh.field_label(f) == f} == set()


@pytest.mark.parametrize(("kind", "values"), [
    ("dispute_status", list(DisputeStatus)), ("dispute_reason", list(DisputeReason)),
    ("ticket_status", list(TicketStatus)), ("event_type", list(EventType)),
    ("return_reason", list(REASON_CODES)), ("outcome", list(OUT_OF_SCOPE_OUTCOMES)),
    ("unit_kind", list(UnitKind)), ("area_level", list(AreaLevel)), ("role", list(ROLES)),
    ("dispute_stage", list(DISPUTE_STAGES)), ("tier", list(DEFAULT_POLICY.return_windows)),
    ("urgency", list(DEFAULT_POLICY.sign_in_windows)),
])
def test_every_value_of_an_enumeration_staff_see_has_a_chinese_name(
        kind: str, values: list[str]) -> None:
    for value in values:
        name = zh.label(kind, value)
        assert name != value and re.search(r"[\u4e00-\u9fff]", name), (kind, value)


def test_the_staff_names_match_the_brief() -> None:
    assert [zh.label("dispute_status", s) for s in DisputeStatus] == [
        "待认领", "审理中", "已裁定", "已撤回"]
    assert [zh.label("role", r) for r in ROLES] == [
        "系统管理员", "目录编辑", "裁定员", "热线派单", "承办单位", "只读"]


def _emitted_codes(module: str, constructor: str) -> set[str]:
    """First string argument of every ``constructor(...)`` call in ``module``."""
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    return {node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == constructor and node.args
            and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)}


def test_every_finding_of_verify_and_warning_of_a_ruling_has_a_chinese_name() -> None:
    findings = _emitted_codes("rules/verification.py", "Finding")
    warnings = _emitted_codes("arbitration/rulings.py", "RulingWarning")
    assert len(findings) >= 10 and warnings
    assert findings == set(zh.FINDING)
    assert warnings == set(zh.RULING_WARNING)


def test_times_are_shown_in_beijing_time_with_the_weekday() -> None:
    assert zh.format_time("2026-12-01T01:30:00+00:00") == "2026年12月1日 星期二 09:30"


def test_a_units_name_is_shown_where_the_context_holds_its_code() -> None:
    err = _raised(_late_return)
    names = {"D-CG": "区城管委", "unit": "不应替换字段"}
    assert zh.message(err, names=names) == (
        "退单时限已于2025年10月9日 星期四 10:00届满，该工单视为「区城管委」已接收，不得退单")
    field_err = QuanzeError("…", code="invalid_value", field="unit")
    assert zh.message(field_err, names=names) == "「单位」的取值无效"


def test_the_examples_in_zh_docstrings_hold() -> None:
    # api/ is outside the suite's --doctest-modules packages
    result = doctest.testmod(zh)
    assert result.attempted >= 8 and result.failed == 0
