"""Compile the matrix into rule-engine definitions: plain JSON, no engine imported here.

The engine sees a ticket as one flat message (see :func:`ticket_message`):
``c1..cN`` its category path from the root, ``a1..aN`` its area path from the district,
``x_<name>`` its attributes as canonical strings, and ``t`` (``as_of`` in epoch
seconds). A rule becomes one conjunction, tested from the most general field to the most
specific so that the engine's alpha network stays narrow:
category path, area path, attribute equalities, validity window (keywords are checked outside
the engine; see :func:`conditions`).

The matrix is split into shards keyed by (category prefix, district) so that no ruleset nears
durable_rules' compile-time caps (durable-rules-facts.md); :func:`compile_shards` refuses a
shard that would exceed one, naming it, instead of letting the engine fail with a number.

>>> from jurisdiction.model import *
>>> from rules.model import Rule
>>> j = Jurisdiction.build([], [Area("1", "区", AreaLevel.DISTRICT, None, None)],
...                        [Category("03", "城乡建设", None), Category("0301", "违法建设", "03")])
>>> for c in conditions(Rule("R", "0301", "X", "b", area="1", when={"k": ("x", "y")}), j):
...     print(c)
{'$and': [{'c1': '03'}, {'c2': '0301'}, {'a1': '1'}, {'x_k': 'x'}]}
{'$and': [{'c1': '03'}, {'c2': '0301'}, {'a1': '1'}, {'x_k': 'y'}]}
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from jurisdiction.errors import ShardTooLarge
from jurisdiction.model import Jurisdiction
from rules.model import Rule, canon_value, plain_text

#: Caps of the durable_rules C core (durable-rules-facts.md) and the margins we keep.
#: (4096 rules per ruleset, less the one rules.engine adds to every ruleset to prime it.)
MAX_RULES_PER_RULESET = 4095
MAX_TESTS_PER_NODE = 512
MAX_RULES_PER_PATH = 256
#: Shards are kept small: durable_rules does not give back all of a deleted ruleset's memory,
#: and the loss grows faster than the ruleset (measured: ~15 MB per create/delete at 166
#: rules, under 1 MB at 32 or fewer), so a change should recompile only a small shard.
SHARD_TARGET_RULES = 32
MAX_MESSAGE_PROPERTIES = 255
ANY_DISTRICT = "*"
#: Separates a rule id from its branch number in engine rule names (ids cannot contain it).
BRANCH = "#"


def conditions(rule: Rule, jurisdiction: Jurisdiction,
               memo: dict[tuple[str, str], list[dict[str, str]]] | None = None
               ) -> list[dict[str, Any]]:
    """The rule as durable_rules ``$and`` expressions of equality and range tests, one per
    combination of its ``when`` values (a disjunctive normal form written out here, so the
    capacity check sees every path the engine will build). ``text_any`` is not compiled:
    the engine's regular expressions are too costly (see :func:`rules.conditions.has_keyword`).
    """
    memo = {} if memo is None else memo  # path tests, shared by the rules of a compile
    head: list[dict[str, Any]] = list(_path_tests(memo, "c", rule.category,
                                                  jurisdiction.category_path))
    if rule.area is not None:
        head += _path_tests(memo, "a", rule.area, jurisdiction.area_path)
    tail: list[dict[str, Any]] = []
    if rule.valid_from is not None:
        tail.append({"$gte": {"t": rule.valid_from.timestamp()}})
    if rule.valid_to is not None:
        tail.append({"$lt": {"t": rule.valid_to.timestamp()}})
    keys = sorted(rule.when)
    return [{"$and": [*head, *({f"x_{k}": v} for k, v in zip(keys, combo, strict=True)),
                      *tail]}
            for combo in itertools.product(*(rule.when[k] for k in keys))]


def _path_tests(memo: dict[tuple[str, str], list[dict[str, str]]], prefix: str, code: str,
                path_of: Any) -> list[dict[str, str]]:
    tests = memo.get((prefix, code))
    if tests is None:
        tests = memo[(prefix, code)] = [{f"{prefix}{depth}": c} for depth, c
                                        in enumerate(reversed(path_of(code)), 1)]
    return tests


def ticket_message(category_path: Iterable[str], area_path: Iterable[str],
                   attributes: Mapping[str, Any], at: float) -> dict[str, Any]:
    """The flat message a ticket is posted as (paths nearest first, as the model gives them)."""
    # The text is not in the message: keywords are checked beside the engine, and a smaller
    # fact is cheaper to assert and retract (measured: retract was the largest engine cost).
    message: dict[str, Any] = {"t": at}
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
    #: the (top-level category, district) group the shard was split from
    group: ShardKey = ("", ANY_DISTRICT)

    @cached_property
    def digest(self) -> str:
        """A content hash: an unchanged shard keeps its compiled engine ruleset."""
        raw = orjson.dumps(self.definition, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(raw).hexdigest()[:20]

    @property
    def label(self) -> str:
        return f"category {self.key[0]} / district {self.key[1]}"


def shard_keys_for(category_path: Iterable[str], district: str | None) -> list[ShardKey]:
    """Every shard a ticket must be posted to."""
    districts = [ANY_DISTRICT] if district is None else [ANY_DISTRICT, district]
    return [(c, d) for c in category_path for d in districts]


def group_of(rule: Rule, jurisdiction: Jurisdiction) -> ShardKey:
    """The (top-level category, district) group a rule is compiled in."""
    path = jurisdiction.category_path(rule.category)
    return (path[-1], jurisdiction.district_of(rule.area) if rule.area else ANY_DISTRICT)


def compile_shards(rules: Iterable[Rule], jurisdiction: Jurisdiction,
                   target: int = SHARD_TARGET_RULES) -> dict[ShardKey, Shard]:
    """Group rules into shards and compile each to a durable_rules ruleset definition.

    A group keyed by (top-level category, district) that holds more than ``target`` rules is
    split by the next category level; rules on the group's own category stay in it.
    """
    groups: dict[ShardKey, list[Rule]] = defaultdict(list)
    for rule in rules:
        groups[group_of(rule, jurisdiction)].append(rule)
    shards: dict[ShardKey, Shard] = {}
    memo: dict[tuple[str, str], list[dict[str, str]]] = {}
    for group, members in groups.items():
        for key, part in _split(group, members, jurisdiction, target):
            shards[key] = _compile_shard(key, part, jurisdiction, memo, group)
    return shards


@dataclass(frozen=True)
class Recompiled:
    """Shards after a change: all of them, the ones compiled anew (by key), and the keys of
    the previous shards that are gone."""

    shards: dict[ShardKey, Shard]
    fresh: dict[ShardKey, Shard]
    removed: list[ShardKey]
    #: :func:`index_groups` of ``shards``
    groups_of: dict[ShardKey, list[ShardKey]]

    @property
    def compiled(self) -> int:
        return len(self.fresh)

    @property
    def reused(self) -> int:
        return len(self.shards) - len(self.fresh)


def recompile_shards(previous: Mapping[ShardKey, Shard], rules: Mapping[str, Rule],
                     jurisdiction: Jurisdiction, changed: Iterable[Rule],
                     target: int = SHARD_TARGET_RULES,
                     groups_of: Mapping[ShardKey, list[ShardKey]] | None = None
                     ) -> Recompiled:
    """The shards of ``rules`` made from ``previous`` (the shards of the matrix before a
    change, on the same categories and areas): only the groups that ``changed`` rules (each
    rule as it was and as it is; a retired rule as it was) belong to are split again, and
    only their shards whose rules changed are compiled; every other shard, and its engine
    ruleset, is kept. The result equals :func:`compile_shards` of ``rules``. ``groups_of``
    (:func:`index_groups` of ``previous``, as the last recompile returned it) saves a walk
    over every shard.

    (Compiling the whole city again took 1.7 s of every change: 4,820 shards for one rule.)
    """
    touched: set[str] = set()
    groups: set[ShardKey] = set()
    for rule in changed:
        touched.add(rule.id)
        groups.add(group_of(rule, jurisdiction))
    members: dict[ShardKey, set[str]] = {group: set() for group in groups}
    shards = dict(previous)
    by_group = dict(index_groups(previous) if groups_of is None else groups_of)
    replaced: list[ShardKey] = []
    for group in groups:
        for key in by_group.pop(group, ()):
            members[group].update(shards.pop(key).rule_ids)
            replaced.append(key)
    for rule_id in touched:
        for ids in members.values():
            ids.discard(rule_id)
        now = rules.get(rule_id)
        if now is not None:
            members[group_of(now, jurisdiction)].add(rule_id)
    fresh: dict[ShardKey, Shard] = {}
    memo: dict[tuple[str, str], list[dict[str, str]]] = {}
    for group, ids in members.items():
        for key, part in _split(group, [rules[i] for i in ids], jurisdiction, target):
            old = previous.get(key)
            part_ids = sorted(r.id for r in part)
            if (old is not None and old.group == group and old.rule_ids == part_ids
                    and touched.isdisjoint(part_ids)):
                shards[key] = old
            else:
                shards[key] = fresh[key] = _compile_shard(key, part, jurisdiction, memo,
                                                          group)
            by_group.setdefault(group, []).append(key)
    removed = [key for key in replaced if key not in shards]
    return Recompiled(shards, fresh, removed, by_group)


def index_groups(shards: Mapping[ShardKey, Shard]) -> dict[ShardKey, list[ShardKey]]:
    """The keys of ``shards`` by the group they were split from."""
    by_group: dict[ShardKey, list[ShardKey]] = defaultdict(list)
    for key, shard in shards.items():
        by_group[shard.group].append(key)
    return dict(by_group)


def _split(group: ShardKey, members: list[Rule], jurisdiction: Jurisdiction,
           target: int) -> list[tuple[ShardKey, list[Rule]]]:
    """A group's rules by shard: a part over ``target`` rules is split by the next category
    level (rules on the part's own category stay in it)."""
    parts: list[tuple[ShardKey, list[Rule]]] = []
    pending = [(group, members)]
    district = group[1]
    while pending:
        (code, _), part = pending.pop()
        if len(part) > target:
            own: list[Rule] = []
            deeper: dict[str, list[Rule]] = defaultdict(list)
            depth = jurisdiction.category_depth(code)
            for rule in part:
                path = jurisdiction.category_path(rule.category)
                if len(path) == depth:
                    own.append(rule)
                else:
                    deeper[path[len(path) - depth - 1]].append(rule)
            if deeper:
                pending += [((child, district), rs) for child, rs in deeper.items()]
                part = own
        if part:
            parts.append(((code, district), part))
    return parts


def _compile_shard(key: ShardKey, members: list[Rule], jurisdiction: Jurisdiction,
                   memo: dict[tuple[str, str], list[dict[str, str]]],
                   group: ShardKey) -> Shard:
    shard = Shard(key, group=group)
    for rule in sorted(members, key=lambda r: r.id):
        shard.rule_ids.append(rule.id)
        for n, expression in enumerate(conditions(rule, jurisdiction, memo)):
            shard.definition[f"{rule.id}{BRANCH}{n}"] = {"all": [{"m": expression}]}
    check_capacity(shard)
    return shard


def check_capacity(shard: Shard) -> None:
    """Refuse a shard that would exceed a durable_rules cap, with a message that says which
    and where, before the engine fails with an error number."""
    if len(shard.definition) > MAX_RULES_PER_RULESET:
        raise ShardTooLarge(
            f"shard {shard.label} has {len(shard.definition)} engine rules (rules times their "
            f"combinations of `when` values); the engine takes at most "
            f"{MAX_RULES_PER_RULESET} per ruleset", code="shard_too_large",
            shard=shard.label, rules=len(shard.definition), limit=MAX_RULES_PER_RULESET)
    children: dict[tuple[Any, ...], set[tuple[Any, ...]]] = defaultdict(set)
    paths: Counter[tuple[Any, ...]] = Counter()
    for rule_id, definition in shard.definition.items():
        prefix: tuple[Any, ...] = ()
        for test in definition["all"][0]["m"]["$and"]:
            token = _token(test)
            children[prefix].add(token)
            prefix += (token,)
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
                f"({str(prefix)[:80] if prefix else 'the root'}); the engine takes at most "
                f"{MAX_TESTS_PER_NODE}",
                code="shard_too_large", shard=shard.label, limit=MAX_TESTS_PER_NODE)


def _token(test: Mapping[str, Any]) -> tuple[Any, ...]:
    """One test as a hashable value: ``{"c1": "03"}`` → ``("c1", "03")``,
    ``{"$gte": {"t": 1.0}}`` → ``("$gte", "t", 1.0)``."""
    (op, value), = test.items()
    if isinstance(value, Mapping):
        (field_name, operand), = value.items()
        return (op, field_name, operand)
    return (op, value)
