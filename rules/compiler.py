"""Compile the matrix into rule-engine definitions: plain JSON, no engine imported here.

The engine sees a ticket as one flat message (see :func:`ticket_message`):
``c1..cN`` its category path from the root, ``a1..aN`` its area path from the district,
``x_<name>`` its attributes as canonical strings, ``text`` and ``t`` (``as_of`` in epoch
seconds). A rule becomes one conjunction, tested from the most general field to the most
specific so that the engine's alpha network stays narrow:
category path, area path, attributes (one anchored regular expression per attribute),
keywords (one regular expression), validity window.

The matrix is split into shards keyed by (category prefix, district) so that no ruleset nears
durable_rules' compile-time caps (durable-rules-facts.md); :func:`compile_shards` refuses a
shard that would exceed one, naming it, instead of letting the engine fail with a number.

>>> from jurisdiction.model import *
>>> from rules.model import Rule
>>> j = Jurisdiction.build([], [Area("1", "区", AreaLevel.DISTRICT, None, None)],
...                        [Category("03", "城乡建设", None), Category("0301", "违法建设", "03")])
>>> condition(Rule("R", "0301", "X", "b", area="1", text_any=("违建",)), j)
{'$and': [{'c1': '03'}, {'c2': '0301'}, {'a1': '1'}, {'$mt': {'text': '.*(违建).*'}}]}
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jurisdiction.errors import ShardTooLarge
from jurisdiction.model import Jurisdiction
from rules.model import Rule, canon_value, is_matchable, plain_text

#: Caps of the durable_rules C core (durable-rules-facts.md) and the margins we keep.
MAX_RULES_PER_RULESET = 4096
MAX_TESTS_PER_NODE = 512
MAX_RULES_PER_PATH = 256
SHARD_TARGET_RULES = 1500
MAX_MESSAGE_PROPERTIES = 255
ANY_DISTRICT = "*"


def escape(literal: str) -> str:
    """A literal for durable_rules' regular expressions (implicitly anchored, no backslash
    escapes, and character classes that misbehave beside other text). Literals with
    metacharacters are refused when rules are read (:func:`rules.model.is_matchable`).

    >>> escape("私搭乱建")
    '私搭乱建'
    """
    if not is_matchable(literal):
        raise ValueError(f"{literal!r} cannot be matched literally by the rule engine")
    return literal


def condition(rule: Rule, jurisdiction: Jurisdiction) -> dict[str, Any]:
    """The rule's condition as one durable_rules ``$and`` expression."""
    tests: list[dict[str, Any]] = []
    for depth, code in enumerate(reversed(jurisdiction.category_path(rule.category)), 1):
        tests.append({f"c{depth}": code})
    if rule.area is not None:
        for depth, code in enumerate(reversed(jurisdiction.area_path(rule.area)), 1):
            tests.append({f"a{depth}": code})
    for key in sorted(rule.when):
        alternatives = "|".join(escape(canon_value(v)) for v in rule.when[key])
        tests.append({"$mt": {f"x_{key}": f"({alternatives})"}})
    if rule.text_any:
        alternatives = "|".join(escape(w) for w in rule.text_any)
        tests.append({"$mt": {"text": f".*({alternatives}).*"}})
    if rule.valid_from is not None:
        tests.append({"$gte": {"t": rule.valid_from.timestamp()}})
    if rule.valid_to is not None:
        tests.append({"$lt": {"t": rule.valid_to.timestamp()}})
    return {"$and": tests}


def ticket_message(category_path: Iterable[str], area_path: Iterable[str],
                   attributes: Mapping[str, Any], text: str, at: float) -> dict[str, Any]:
    """The flat message a ticket is posted as (paths nearest first, as the model gives them)."""
    message: dict[str, Any] = {"text": plain_text(text), "t": at}
    for depth, code in enumerate(reversed(tuple(category_path)), 1):
        message[f"c{depth}"] = code
    for depth, code in enumerate(reversed(tuple(area_path)), 1):
        message[f"a{depth}"] = code
    for key, value in attributes.items():
        message[f"x_{key}"] = plain_text(canon_value(value))
    return message


ShardKey = tuple[str, str]  # (category code the shard covers, district code or "*")


@dataclass
class Shard:
    key: ShardKey
    rule_ids: list[str] = field(default_factory=list)
    definition: dict[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """A content hash: an unchanged shard keeps its compiled engine ruleset."""
        raw = json.dumps(self.definition, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(raw.encode()).hexdigest()[:20]

    @property
    def label(self) -> str:
        return f"category {self.key[0]} / district {self.key[1]}"


def shard_keys_for(category_path: Iterable[str], district: str | None) -> list[ShardKey]:
    """Every shard a ticket must be posted to."""
    districts = [ANY_DISTRICT] if district is None else [ANY_DISTRICT, district]
    return [(c, d) for c in category_path for d in districts]


def compile_shards(rules: Iterable[Rule], jurisdiction: Jurisdiction,
                   target: int = SHARD_TARGET_RULES) -> dict[ShardKey, Shard]:
    """Group rules into shards and compile each to a durable_rules ruleset definition.

    A group keyed by (top-level category, district) that holds more than ``target`` rules is
    split by the next category level; rules on the group's own category stay in it.
    """
    groups: dict[ShardKey, list[Rule]] = defaultdict(list)
    for rule in rules:
        path = jurisdiction.category_path(rule.category)
        district = jurisdiction.district_of(rule.area) if rule.area else ANY_DISTRICT
        groups[(path[-1], district)].append(rule)
    shards: dict[ShardKey, Shard] = {}
    pending = list(groups.items())
    while pending:
        (code, district), members = pending.pop()
        if len(members) > target:
            own: list[Rule] = []
            deeper: dict[str, list[Rule]] = defaultdict(list)
            depth = jurisdiction.category_depth(code)
            for rule in members:
                path = jurisdiction.category_path(rule.category)
                if len(path) == depth:
                    own.append(rule)
                else:
                    deeper[path[len(path) - depth - 1]].append(rule)
            if deeper:
                pending += [((child, district), rs) for child, rs in deeper.items()]
                members = own
        if members:
            shards[(code, district)] = _compile_shard((code, district), members, jurisdiction)
    return shards


def _compile_shard(key: ShardKey, members: list[Rule], jurisdiction: Jurisdiction) -> Shard:
    shard = Shard(key)
    for rule in sorted(members, key=lambda r: r.id):
        shard.rule_ids.append(rule.id)
        shard.definition[rule.id] = {"all": [{"m": condition(rule, jurisdiction)}]}
    check_capacity(shard)
    return shard


def check_capacity(shard: Shard) -> None:
    """Refuse a shard that would exceed a durable_rules cap, with a message that says which
    and where, before the engine fails with an error number."""
    if len(shard.rule_ids) > MAX_RULES_PER_RULESET:
        raise ShardTooLarge(
            f"shard {shard.label} has {len(shard.rule_ids)} rules; the engine takes at most "
            f"{MAX_RULES_PER_RULESET} per ruleset", code="shard_too_large",
            shard=shard.label, rules=len(shard.rule_ids), limit=MAX_RULES_PER_RULESET)
    children: dict[str, set[str]] = defaultdict(set)
    paths: Counter[str] = Counter()
    for rule_id, definition in shard.definition.items():
        prefix = ""
        for test in definition["all"][0]["m"]["$and"]:
            token = json.dumps(test, sort_keys=True, ensure_ascii=False)
            children[prefix].add(token)
            prefix += token
        paths[prefix] += 1
        if paths[prefix] > MAX_RULES_PER_PATH:
            raise ShardTooLarge(
                f"shard {shard.label}: more than {MAX_RULES_PER_PATH} rules share the same "
                f"conditions as {rule_id}; merge them", code="shard_too_large",
                shard=shard.label, rule_id=rule_id, limit=MAX_RULES_PER_PATH)
    for prefix, tests in children.items():
        if len(tests) > MAX_TESTS_PER_NODE:
            raise ShardTooLarge(
                f"shard {shard.label}: {len(tests)} distinct tests follow one condition "
                f"({prefix[:80] or 'the root'}); the engine takes at most {MAX_TESTS_PER_NODE}",
                code="shard_too_large", shard=shard.label, limit=MAX_TESTS_PER_NODE)
