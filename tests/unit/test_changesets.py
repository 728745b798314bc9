"""The pure part of change sets: a proposal is parsed as an import parses rules, its change
keeps revisions and refuses unknown retirements, and its diff reads field by field."""

from __future__ import annotations

from typing import Any

import pytest

from arbitration.changesets import Proposal, build_change, effective, readable_diff
from jurisdiction.errors import InvalidInput
from jurisdiction.model import Category, Jurisdiction, Unit, UnitKind
from rules.model import Rule, Settings
from rules.store import RETIRE, Matrix

J = Jurisdiction.build([Unit("D-ZJ", "住建委", UnitKind.DEPARTMENT),
                        Unit("D-CG", "城管委", UnitKind.DEPARTMENT)], [],
                       [Category("03", "城乡建设", None), Category("0301", "违法建设", "03")])
LIVE = Matrix.build(4, J, {"R-1": Rule("R-1", "03", "D-ZJ", "清单", revision=3),
                           "R-2": Rule("R-2", "0301", "D-CG", "清单", revision=1)}, Settings())
R1_TO_CG = {"id": "R-1", "category": "03", "lead": "D-CG", "basis": "清单"}
NEW = {"id": "R-3", "category": "0301", "lead": "D-ZJ", "basis": "纪要"}

REFUSED: list[tuple[Any, str]] = [
    ([], "body"),
    ({"title": "", "rules": []}, "title"),
    ({"title": "t", "rules": {}}, "rules"),
    ({"title": "t", "rules": [], "retire": [""]}, "retire[0]"),
    ({"title": "t", "rules": [R1_TO_CG], "retire": ["R-1"]}, "retire[0]"),
    ({"title": "t", "rules": [NEW], "extra": 1}, "extra"),
    ({"title": "t", "rules": [NEW, NEW]}, "rules[1].id"),
    ({"title": "t", "rules": [{**NEW, "priority": "high"}]}, "rules[0].priority"),
]


@pytest.mark.parametrize(("body", "field"), REFUSED, ids=[f for _, f in REFUSED])
def test_a_malformed_proposal_is_refused_naming_the_field(body: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Proposal.parse(body)
    assert caught.value.context["field"] == field


def test_a_replaced_rule_keeps_its_revision_count_and_a_retired_one_must_exist() -> None:
    change = build_change(Proposal.parse({"title": "t", "rules": [R1_TO_CG, NEW],
                                          "retire": ["R-2"]}))(LIVE)
    replaced = change.rules["R-1"]
    assert isinstance(replaced, Rule) and replaced.revision == 3
    assert change.rules["R-2"] is RETIRE
    with pytest.raises(InvalidInput) as caught:
        build_change(Proposal.parse({"title": "t", "retire": ["R-9"]}))(LIVE)
    assert (caught.value.code, caught.value.context["field"]) == ("unknown_rule", "retire[0]")


def test_the_diff_names_each_changed_field_and_leaves_out_unchanged_rules() -> None:
    same = {"id": "R-2", "category": "0301", "lead": "D-CG", "basis": "清单"}
    diff = readable_diff(LIVE, Proposal.parse({"title": "t", "rules": [R1_TO_CG, NEW],
                                               "retire": ["R-2"]}))
    assert [(d["rule_id"], d["change"]) for d in diff] == [
        ("R-1", "changed"), ("R-2", "retired"), ("R-3", "added")]
    assert diff[0]["fields"] == [{"field": "lead", "old": "D-ZJ", "new": "D-CG"}]
    assert diff[1]["rule"]["lead"] == "D-CG"
    with_same = Proposal.parse({"title": "t", "rules": [same, R1_TO_CG, NEW]})
    assert [r.id for r in effective(with_same, LIVE).rules] == ["R-1", "R-3"]
    assert [d["rule_id"] for d in readable_diff(LIVE, with_same)] == ["R-1", "R-3"]
