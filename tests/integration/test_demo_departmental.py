"""The demo district keeps departmental matters off the streets (国办函〔2025〕66号: 职能部门
事项不得分派给基层), at every date its catalogue history covers.

Property, over every leaf × every township × several dates: a leaf that some rule in force
(at the ticket's time or today) gives to a department or utility, in any area, is marked
departmental with a default unit, and no fallback for it ever lands on a street or township.
The demo is loaded into the database (SQLite, and PostgreSQL when configured) and read back;
the decisions are the pure resolution's, the same the replay and previews use.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine

from api import demo
from rules.admin import bundle_changes
from rules.bundle import parse_bundle
from rules.model import Status, Ticket
from rules.service import evaluate
from rules.store import Matrix, commit, load_matrix
from rules.verification import verify

BEIJING = timezone(timedelta(hours=8))
TODAY = datetime(2026, 11, 30, 10, tzinfo=BEIJING)
#: before the 三定 catalogue (2025-03-01), between it and the 2026 lists, today, and after
#: the future-dated rule of 2027-01-01
DATES = [datetime(2024, 6, 1, 10, tzinfo=BEIJING), datetime(2025, 6, 1, 10, tzinfo=BEIJING),
         TODAY, datetime(2027, 3, 1, 10, tzinfo=BEIJING)]


@pytest.fixture
def demo_matrix(db: Engine) -> Iterator[Matrix]:
    with db.begin() as conn:
        base = load_matrix(conn)
        change = bundle_changes(parse_bundle(demo.district()), base, mode="replace")
        commit(conn, base, change, actor="tests", note="demo district", now=TODAY)
    with db.connect() as conn:
        yield load_matrix(conn)


def _probes(matrix: Matrix, leaf: str) -> Iterator[tuple[dict[str, str], str]]:
    """A plain ticket, and one that meets each rule on the leaf's path (its first allowed
    value of every attribute, its first keyword): together they reach every rule."""
    yield {}, ""
    for rule in matrix.considered(matrix.jurisdiction.category_path(leaf)):
        yield ({k: v[0] for k, v in rule.when.items()},
               rule.text_any[0] if rule.text_any else "")


def _is_territorial(matrix: Matrix, code: str | None) -> bool:
    unit = matrix.jurisdiction.units.get(code) if code else None
    return unit is not None and unit.is_territorial


def test_no_departmental_matter_of_the_demo_falls_back_to_a_street_at_any_date(
        demo_matrix: Matrix) -> None:
    m = demo_matrix
    j = m.jurisdiction
    townships = j.townships()
    given: dict[str, str] = {}  # leaf -> a rule that gives it to a department or utility
    falls: dict[str, list[str]] = {}  # leaf -> where and when a fallback sent it to the street
    for leaf in j.category_leaves():
        for at in DATES:
            for township in townships:
                for attributes, text in _probes(m, leaf):
                    decision = evaluate(Ticket(leaf, at, area=township.code,
                                               attributes=attributes, text=text), m)
                    if decision.status is Status.ROUTED and decision.rule is not None \
                            and not _is_territorial(m, decision.lead):
                        given.setdefault(leaf, decision.rule.id)
                    if decision.status is Status.FALLBACK \
                            and _is_territorial(m, decision.lead):
                        falls.setdefault(leaf, []).append(
                            f"{township.name} {at:%Y-%m-%d} → {decision.lead}")
    assert len(given) > len(j.category_leaves()) // 2  # the probes reach the departments

    unmarked = {leaf: rule for leaf, rule in given.items()
                if not j.categories[leaf].departmental or not j.categories[leaf].default_unit}
    assert unmarked == {}
    pushed_down = {leaf: where for leaf, where in falls.items() if leaf in given}
    assert pushed_down == {}


def test_the_demo_catalogue_history_gives_a_2024_ticket_a_department_where_practice_does(
        demo_matrix: Matrix) -> None:
    m = demo_matrix
    j = m.jurisdiction
    xiguan = next(a.code for a in j.townships() if a.name == "西关街道")
    routed_to = {}
    for leaf in j.category_leaves():
        category = j.categories[leaf]
        if not category.departmental:
            continue
        decision = evaluate(Ticket(leaf, DATES[0], area=xiguan), m)
        routed_to[leaf] = decision.status
        assert not _is_territorial(m, decision.lead), (leaf, category.name)
    # a rule, not the default unit, decides all but the deliberate gaps
    gaps = [leaf for leaf, status in routed_to.items() if status is not Status.ROUTED]
    assert len(gaps) == 4


def test_verify_finds_no_error_in_the_demo_but_its_one_deliberate_overlap(
        demo_matrix: Matrix) -> None:
    report = verify(demo_matrix, TODAY)
    errors = [(f.code, f.rule_ids) for f in report.findings if f.severity == "error"]
    assert errors == [("overlap", ("R-040104-02", "R-040104-03"))]
    gaps = [f for f in report.findings if f.code == "gap"]
    assert all(demo_matrix.jurisdiction.categories[f.category or ""].departmental
               for f in gaps)  # the deliberate gaps fall to a department, not a street
