"""The two readers of the condition language agree: durable_rules (rules.compiler +
rules.engine) and the plain evaluator (rules.conditions) report the same matching rules for
random matrices and tickets, including literals full of regular-expression metacharacters,
JSON escapes and Chinese, validity boundaries, and shards split by category.

Rules are read through :func:`rules.bundle.parse_bundle` one by one, so a literal the bundle
refuses never reaches the engine; whatever the bundle accepts, the engine must read alike.
Tickets are not filtered: they come from the routing API as citizens wrote them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jurisdiction.errors import BundleInvalid
from jurisdiction.model import Area, AreaLevel, Category, Jurisdiction
from rules.bundle import parse_bundle
from rules.compiler import compile_shards
from rules.conditions import TicketContext, matches
from rules.engine import Engine
from rules.model import TERRITORIAL, Rule, Settings, Ticket
from rules.resolution import context_for, resolve
from rules.service import engine_decision, live_matches
from rules.store import Matrix

ATTRIBUTES = ("kind", "floor", "where")
#: Literals that are metacharacters of some regular-expression dialect, JSON escapes,
#: spaces and Chinese; used as `when` values, keywords and ticket text alike.
LITERALS = (
    "a", "b", "ab", "aab", "a b", " ", "违建", "私搭", "电梯", "é",
    ".", "(", ")", "*", "+", "?", "|", "$", "^", "-", "[", "]", "{", "}", "\\",
    "a.b", "a*", "(a)", "[a-z]", "x{2}", "^a$", "a|b", "a+?", "1-9", "\\d", "{}",
    '"', "n", "t", "u", "\n", "\t", "",
)
#: Pieces of ticket text beyond the literals: control characters and near misses.
TEXT_NOISE = ("\x01", "\r", "x", "违", "建", "a\\b", 'a"b', "u0001", "\\n")
BASE = datetime(2026, 1, 1, tzinfo=UTC)
INSTANTS = tuple(BASE + timedelta(days=d) for d in (0, 10, 20, 30))


@st.composite
def category_trees(draw: st.DrawFn) -> list[Category]:
    """One to three roots, each with a random subtree of depth up to 3."""
    categories: list[Category] = []
    for r in range(draw(st.integers(1, 3))):
        root = f"C{r}"
        categories.append(Category(root, root, None))
        for m in range(draw(st.integers(0, 3))):
            mid = f"{root}{m}"
            categories.append(Category(mid, mid, root))
            for leaf in range(draw(st.integers(0, 3))):
                categories.append(Category(f"{mid}{leaf}", f"{mid}{leaf}", mid))
    return categories


@st.composite
def area_trees(draw: st.DrawFn) -> list[Area]:
    """One or two districts, their townships and communities."""
    areas: list[Area] = []
    for d in range(draw(st.integers(1, 2))):
        district = f"D{d}"
        areas.append(Area(district, district, AreaLevel.DISTRICT, None, None))
        for t in range(draw(st.integers(0, 3))):
            township = f"{district}T{t}"
            areas.append(Area(township, township, AreaLevel.TOWNSHIP, district, None))
            for c in range(draw(st.integers(0, 2))):
                areas.append(Area(f"{township}C{c}", "c", AreaLevel.COMMUNITY, township, None))
    return areas


def _iso(at: datetime) -> str:
    return at.isoformat()


@st.composite
def rule_entries(draw: st.DrawFn, rule_id: str, categories: list[str],
                 areas: list[str]) -> dict[str, Any]:
    """A rule as a bundle entry (the bundle's reader decides what is allowed)."""
    when: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(ATTRIBUTES), max_size=2, unique=True)):
        values = draw(st.lists(st.sampled_from(LITERALS), min_size=1, max_size=3, unique=True))
        when[key] = values[0] if len(values) == 1 and draw(st.booleans()) else values
    entry: dict[str, Any] = {
        "id": rule_id, "category": draw(st.sampled_from(categories)),
        "area": draw(st.none() | st.sampled_from(areas)) if areas else None,
        "lead": "X", "basis": "b", "when": when,
        "text_any": draw(st.lists(st.sampled_from(LITERALS), max_size=3, unique=True)),
    }
    start = draw(st.none() | st.sampled_from(INSTANTS))
    end = draw(st.none() | st.sampled_from(INSTANTS))
    if start is not None:
        entry["valid_from"] = _iso(start)
    if end is not None and (start is None or end > start):
        entry["valid_to"] = _iso(end)
    return entry


def accepted(entry: dict[str, Any]) -> Rule | None:
    try:
        return parse_bundle({"rules": [entry]}).rules[0]
    except BundleInvalid:
        return None


@st.composite
def matrices(draw: st.DrawFn) -> tuple[Jurisdiction, list[Rule]]:
    categories = draw(category_trees())
    areas = draw(area_trees())
    j = Jurisdiction.build([], areas, categories)
    entries = [draw(rule_entries(f"R{i}", list(j.categories), list(j.areas)))
               for i in range(draw(st.integers(0, 12)))]
    return j, [r for r in map(accepted, entries) if r is not None]


@st.composite
def tickets(draw: st.DrawFn, j: Jurisdiction) -> Ticket:
    attributes = {
        key: draw(st.sampled_from((*LITERALS, "c", "a.b.", "违建违建")))
        for key in draw(st.lists(st.sampled_from(ATTRIBUTES), max_size=3, unique=True))
    }
    text = "".join(draw(st.lists(st.sampled_from(LITERALS + TEXT_NOISE), max_size=5)))
    as_of = draw(st.sampled_from(INSTANTS)) + draw(
        st.sampled_from((timedelta(0), timedelta(seconds=-1), timedelta(seconds=1),
                         timedelta(microseconds=1), timedelta(days=5))))
    return Ticket(category=draw(st.sampled_from(sorted(j.categories))),
                  area=draw(st.none() | st.sampled_from(sorted(j.areas))),
                  attributes=attributes, text=text, as_of=as_of)


def engine_matches(engine: Engine, rules: list[Rule], ctx: TicketContext) -> set[str]:
    """The live reader: the engine, with the keyword condition applied to its matches."""
    return live_matches(engine, {r.id: r for r in rules}, ctx)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrix=matrices(), target=st.sampled_from([1, 2, 3, 1500]), data=st.data())
def test_engine_and_plain_evaluator_match_the_same_rules(
        matrix: tuple[Jurisdiction, list[Rule]], target: int, data: st.DataObject) -> None:
    j, rules = matrix
    engine = Engine()
    try:
        engine.load(compile_shards(rules, j, target=target))
        for ticket in data.draw(st.lists(tickets(j), min_size=1, max_size=6), label="tickets"):
            ctx = TicketContext(ticket, j.category_path(ticket.category),
                                j.area_path(ticket.area) if ticket.area else ())
            plain = {r.id for r in rules if matches(r, ctx)}
            assert engine_matches(engine, rules, ctx) == plain, ticket
    finally:
        engine.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matrix=matrices(), data=st.data())
def test_the_engine_path_and_the_plain_evaluator_make_the_same_decisions(
        matrix: tuple[Jurisdiction, list[Rule]], data: st.DataObject) -> None:
    """Whole decisions, explanations included: the engine path walks only the rules that
    apply in the ticket's area and counts the others, the evaluator walks them all."""
    j, drawn = matrix
    rules = {r.id: replace(r, lead=data.draw(st.sampled_from(("X", "Y", TERRITORIAL))),
                           priority=data.draw(st.integers(0, 1))) for r in drawn}
    m = Matrix.build(1, j, rules, Settings(hotline_office="H"))
    engine = Engine()
    try:
        routes = engine.load(compile_shards(rules.values(), j, target=2))
        for ticket in data.draw(st.lists(tickets(j), min_size=1, max_size=6), label="tickets"):
            ctx = context_for(ticket, j)
            plain = resolve(ctx, m.considered(ctx.category_path), j, m.settings)
            assert engine_decision(engine, routes, m, ctx) == plain, ticket
    finally:
        engine.close()


def test_small_shard_target_splits_rules_over_several_shards_and_still_agrees() -> None:
    categories = [Category("C", "c", None), Category("C1", "c1", "C"),
                  Category("C2", "c2", "C"), Category("C11", "c11", "C1")]
    j = Jurisdiction.build([], [Area("D", "d", AreaLevel.DISTRICT, None, None)], categories)
    rules = [Rule(f"R{i}", code, "X", "b", text_any=("违建",) if i % 2 else (),
                  when={"k": ("v", f"w{i}")})
             for i, code in enumerate(["C", "C1", "C11", "C11", "C2", "C2"])]
    shards = compile_shards(rules, j, target=1)
    assert len(shards) > 1
    engine = Engine()
    try:
        engine.load(shards)
        ticket = Ticket("C11", BASE, attributes={"k": "v"}, text="小区违建")
        ctx = TicketContext(ticket, j.category_path("C11"), ())
        assert engine_matches(engine, rules, ctx) == {"R0", "R1", "R2", "R3"}
    finally:
        engine.close()


def test_values_and_keywords_the_two_readers_would_see_differently_are_refused() -> None:
    from jurisdiction.errors import BundleInvalid

    for field, value in (("text_any", ['say "hi"']), ("when", {"k": "a\\b"}),
                         ("when", {"k": ""}), ("text_any", ["行\n尾"]),
                         ("when", {"a": [str(i) for i in range(9)],
                                   "b": [str(i) for i in range(9)]})):
        entry = {"id": "R", "category": "C", "lead": "X", "basis": "b", field: value}
        with pytest.raises(BundleInvalid) as info:
            parse_bundle({"rules": [entry]})
        assert info.value.problems[0].field == field


def test_long_keyword_lists_and_regex_characters_route_without_the_engine_refusing() -> None:
    j = Jurisdiction.build([], [Area("D", "d", AreaLevel.DISTRICT, None, None)],
                           [Category("C", "c", None)])
    words = tuple(f"很长的关键词第{i:02d}号（含.*+?符号）" for i in range(64))
    rule = parse_bundle({"rules": [{"id": "R", "category": "C", "lead": "X", "basis": "b",
                                    "text_any": list(words), "when": {"v": ["1.5", "(a)"]}}]}
                        ).rules[0]
    engine = Engine()
    try:
        engine.load(compile_shards([rule], j))
        ticket = Ticket("C", BASE, attributes={"v": "1.5"}, text="……" + words[40] + "……")
        ctx = TicketContext(ticket, ("C",), ())
        assert engine_matches(engine, [rule], ctx) == {"R"}
        assert matches(rule, ctx)
    finally:
        engine.close()


def test_an_evolved_matrix_finds_the_rules_of_a_ticket_place_as_one_built_anew() -> None:
    categories = [Category("C", "c", None), Category("C1", "c1", "C"),
                  Category("C2", "c2", "C")]
    areas = [Area("D", "d", AreaLevel.DISTRICT, None, None),
             Area("DT", "t", AreaLevel.TOWNSHIP, "D", None),
             Area("E", "e", AreaLevel.DISTRICT, None, None)]
    j = Jurisdiction.build([], areas, categories)
    rules = {r.id: r for r in (Rule("R1", "C1", "X", "b", area="DT"),
                               Rule("R2", "C1", "X", "b", area="E"),
                               Rule("R3", "C", "X", "b"), Rule("R4", "C2", "X", "b"))}
    places = [(j.category_path(c), j.area_path(a)) for c in ("C1", "C2") for a in ("DT", "E")]
    before = Matrix.build(1, j, rules, Settings())
    for place in places:  # fills the index the next version carries over
        before.relevant(*place)
    after = before.evolve(2, {"R1": replace(rules["R1"], area="E"), "R4": None,
                              "R5": Rule("R5", "C2", "Y", "b", area="D")}, Settings())
    anew = Matrix.build(2, j, after.rules, Settings())
    for place in places:
        assert after.relevant(*place) == anew.relevant(*place), place
    # nearest category first, by id within one; R1 moved to E, nothing left elsewhere
    assert after.relevant(("C1", "C"), ("E",)) == ([after.rules["R1"], rules["R2"],
                                                    rules["R3"]], 0)
