"""Compile the matrix into rule-engine definitions: plain JSON, no engine imported here.

The engine matches **conditions**: the attribute values (``when``) a rule asks of a ticket,
under the rule's category. A *pattern* is one category and one combination of ``when``
values, and every rule that states it — the same matter in sixteen districts, in twenty
townships, in successive validity windows — shares one engine rule: the synthetic city's
11,330 rules with conditions state 9,122 patterns. The jurisdiction model answers the rest:
which rules sit on a ticket's category path and apply in its area is an index lookup
(:meth:`rules.store.Matrix.relevant`); their validity window and keywords are tested on the
engine's matches (:func:`matched_rules`) by the functions the plain evaluator uses. A rule
without conditions matches wherever the index finds it; a ticket none of whose rules state
a condition is not posted at all.

(Each engine rule costs durable_rules about 20 KB — fixed-size nodes and per-rule session
indexes — and each ruleset about 160 KB, measured in docs/performance.md: one engine rule per
matrix rule, in 4,820 small rulesets, held 2.16 GB for the city; and each rule that fires
costs an action, ~5-10 µs, on every ticket that reaches it.)

The engine sees a ticket as one flat message (see :func:`ticket_message`): ``c1..cN`` its
category path from the root and ``x_<name>`` its attributes as canonical strings. A pattern
becomes one conjunction, tested from the most general field to the most specific so that the
engine's alpha network stays narrow: category path, then attribute equalities.

The patterns are split into shards by category so that no ruleset nears durable_rules'
compile-time caps (durable-rules-facts.md); :func:`compile_shards` refuses a shard that would
exceed one, naming it, instead of letting the engine fail with a number.

>>> from jurisdiction.model import *
>>> from rules.model import Rule
>>> j = Jurisdiction.build([], [Area("1", "区", AreaLevel.DISTRICT, None, None)],
...                        [Category("03", "城乡建设", None), Category("0301", "违法建设", "03")])
>>> rule = Rule("R", "0301", "X", "b", area="1", when={"k": ("x", "y")})
>>> for p in patterns_of(rule):
...     print(p.name, conditions(p, j))
0301#37a65c15db24d4fb {'$and': [{'c1': '03'}, {'c2': '0301'}, {'x_k': 'x'}]}
0301#8c2ab9c9cb345d85 {'$and': [{'c1': '03'}, {'c2': '0301'}, {'x_k': 'y'}]}
>>> patterns_of(Rule("S", "0301", "X", "b", area="1"))
()
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from jurisdiction.errors import ShardTooLarge
from jurisdiction.model import Jurisdiction
from rules.conditions import TicketContext
from rules.model import Rule, canon_value, plain_text

#: Caps of the durable_rules C core (durable-rules-facts.md) and the margins we keep.
#: (4096 rules per ruleset, less the one rules.engine adds to every ruleset to prime it.)
MAX_RULES_PER_RULESET = 4095
MAX_TESTS_PER_NODE = 512
MAX_MESSAGE_PROPERTIES = 255
#: Patterns per shard before a shard is split by the next category level. A ruleset costs
#: ~160 KB however small, so shards are large; a change that adds or drops a pattern creates
#: one of them again (~24 ms at 1,024 engine rules; create/delete cycles at that size give
#: back all but ~14 KB each, measured in docs/performance.md).
SHARD_TARGET_RULES = 1024

Combo = tuple[tuple[str, str], ...]  # (attribute, value) pairs, sorted by attribute
ShardKey = str  # the category code a shard covers


@dataclass(frozen=True, slots=True)
class Pattern:
    """One engine rule: a category and one combination of ``when`` values."""

    category: str
    combo: Combo

    @property
    def name(self) -> str:
        """The engine rule's name, unique to the pattern: the category code and a hash of the
        combination (values are plain text, so the separators below cannot occur in them;
        :func:`rules.model.is_plain`; category codes hold no ``#``)."""
        raw = "\x1f".join(f"{key}\x1e{value}" for key, value in self.combo).encode()
        return f"{self.category}#{hashlib.blake2b(raw, digest_size=8).hexdigest()}"


def patterns_of(rule: Rule) -> tuple[Pattern, ...]:
    """The patterns a rule states: one per combination of its ``when`` values (a
    disjunctive normal form written out here, so the capacity check sees every engine rule);
    none for a rule without conditions."""
    if not rule.when:
        return ()
    return _patterns(rule.category, tuple(sorted(rule.when.items())))


@functools.lru_cache(maxsize=1 << 16)
def _patterns(category: str, when: tuple[tuple[str, tuple[str, ...]], ...]
              ) -> tuple[Pattern, ...]:
    keys = [key for key, _ in when]
    return tuple(Pattern(category, tuple(zip(keys, combo, strict=True)))
                 for combo in itertools.product(*(values for _, values in when)))


def pattern_names(rule: Rule) -> frozenset[str]:
    """The engine rule names any of whose matches means ``rule``'s conditions hold."""
    return _names(rule.category, tuple(sorted(rule.when.items())))


@functools.lru_cache(maxsize=1 << 16)
def _names(category: str, when: tuple[tuple[str, tuple[str, ...]], ...]) -> frozenset[str]:
    return frozenset(p.name for p in _patterns(category, when))


def conditions(pattern: Pattern, jurisdiction: Jurisdiction,
               memo: dict[str, list[dict[str, str]]] | None = None) -> dict[str, Any]:
    """The pattern as a durable_rules ``$and`` of equality tests. ``text_any``, the area and
    the validity window are not compiled (see the module docstring; the engine's regular
    expressions are too costly, :func:`rules.conditions.has_keyword`)."""
    memo = {} if memo is None else memo  # path tests, shared by the patterns of a compile
    head = memo.get(pattern.category)
    if head is None:
        head = memo[pattern.category] = [
            {f"c{depth}": code} for depth, code
            in enumerate(reversed(jurisdiction.category_path(pattern.category)), 1)]
    return {"$and": [*head, *({f"x_{key}": value} for key, value in pattern.combo)]}


def ticket_message(category_path: Iterable[str], attributes: Mapping[str, Any]
                   ) -> dict[str, Any]:
    """The flat message a ticket is posted as (its category path nearest first, as the
    model gives it). Area, time and text are not in it: they are checked beside the engine,
    and a smaller fact is cheaper to assert and retract (measured: retract was the largest
    engine cost)."""
    message: dict[str, Any] = {}
    for depth, code in enumerate(reversed(tuple(category_path)), 1):
        message[f"c{depth}"] = code
    for key, value in attributes.items():
        message[f"x_{key}"] = plain_text(canon_value(value))
    return message


def needs_engine(candidates: Iterable[Rule]) -> bool:
    """Does any of the rules state a condition? (Otherwise the engine has nothing to match.)"""
    return any(rule.when for rule in candidates)


def matched_rules(names: Collection[str], candidates: Iterable[Rule], ctx: TicketContext
                  ) -> set[str]:
    """The ids of the ``candidates`` that match the ticket, given the pattern ``names`` the
    engine matched: on its category path and in its area, conditions matched by the engine
    (a rule without any matches), valid at its time, with a keyword in its text (the tests
    kept beside the engine, made as the plain evaluator makes them: the same
    :meth:`rules.model.Rule.is_valid_at`, and :func:`rules.conditions.has_keyword` on the
    ticket's text made plain once)."""
    ticket = ctx.ticket
    area_path, category_path, at = ctx.area_path, ctx.category_path, ticket.as_of
    plain: str | None = None
    matched: set[str] = set()
    for rule in candidates:
        if rule.category not in category_path or (
                rule.area is not None and rule.area not in area_path):
            continue
        if rule.when and pattern_names(rule).isdisjoint(names):
            continue
        if not rule.is_valid_at(at):
            continue
        if rule.text_any:
            if plain is None:
                plain = plain_text(ticket.text)
            if not any(word in plain for word in rule.text_any):
                continue
        matched.add(rule.id)
    return matched


@dataclass(frozen=True)
class Shard:
    """The patterns of one category subtree, compiled to one durable_rules ruleset.
    ``uses`` counts the rules stating each pattern (a pattern goes when its last rule does)."""

    key: ShardKey
    #: the top-level category the shard was split from
    group: str
    uses: Mapping[Pattern, int]
    definition: Mapping[str, Any]
    #: a content hash of the definition: an unchanged shard keeps its engine ruleset
    digest: str

    @property
    def label(self) -> str:
        return f"category {self.key}"


def make_shard(key: ShardKey, group: str, uses: Mapping[Pattern, int],
               jurisdiction: Jurisdiction,
               memo: dict[str, list[dict[str, str]]] | None = None) -> Shard:
    """Compile ``uses``' patterns; refuses a shard over one of the engine's caps."""
    memo = {} if memo is None else memo
    definition: dict[str, Any] = {}
    for pattern in sorted(uses, key=_pattern_order):
        name = pattern.name
        if name in definition:  # two combinations of one category with the same hash
            raise ValueError(f"pattern name collision in category {pattern.category}: {name}")
        definition[name] = {"all": [{"m": conditions(pattern, jurisdiction, memo)}]}
    raw = orjson.dumps(definition, option=orjson.OPT_SORT_KEYS)
    shard = Shard(key, group, dict(uses), definition, hashlib.sha256(raw).hexdigest()[:20])
    check_capacity(shard)
    return shard


def _pattern_order(pattern: Pattern) -> tuple[str, Combo]:
    return (pattern.category, pattern.combo)


def compile_shards(rules: Iterable[Rule], jurisdiction: Jurisdiction,
                   target: int = SHARD_TARGET_RULES) -> dict[ShardKey, Shard]:
    """Group the rules' patterns by top-level category and compile each group to
    durable_rules ruleset definitions. A group of more than ``target`` patterns is split by
    the next category level; patterns on the group's own category stay in it."""
    groups: dict[str, Counter[Pattern]] = defaultdict(Counter)
    for rule in rules:
        group = _top(rule.category, jurisdiction)
        for pattern in patterns_of(rule):
            groups[group][pattern] += 1
    shards: dict[ShardKey, Shard] = {}
    memo: dict[str, list[dict[str, str]]] = {}
    for group, uses in groups.items():
        for key, part in _split(group, uses, jurisdiction, target):
            shards[key] = make_shard(key, group, part, jurisdiction, memo)
    return shards


def _top(category: str, jurisdiction: Jurisdiction) -> str:
    return jurisdiction.category_path(category)[-1]


@dataclass(frozen=True)
class Recompiled:
    """Shards after a change: all of them, the ones compiled anew (by key), and the keys of
    the previous shards that are gone."""

    shards: dict[ShardKey, Shard]
    fresh: dict[ShardKey, Shard]
    removed: list[ShardKey]
    #: :func:`index_groups` of ``shards``
    groups_of: dict[str, list[ShardKey]]

    @property
    def compiled(self) -> int:
        return len(self.fresh)

    @property
    def reused(self) -> int:
        return len(self.shards) - len(self.fresh)


def recompile_shards(previous: Mapping[ShardKey, Shard], jurisdiction: Jurisdiction,
                     removed: Iterable[Rule], added: Iterable[Rule],
                     target: int = SHARD_TARGET_RULES,
                     groups_of: Mapping[str, list[ShardKey]] | None = None) -> Recompiled:
    """The shards after a change, made from ``previous`` (the shards before it, on the same
    categories): ``removed`` are the changed rules as they were (and retired rules),
    ``added`` as they are now. Only the groups those rules' patterns belong to are split
    again, and only their shards whose set of patterns changed are compiled; every other
    shard, and its engine ruleset, is kept — a change of a lead, an area or a validity window
    compiles nothing. The result equals :func:`compile_shards` of the rules after the change.
    ``groups_of`` (:func:`index_groups` of ``previous``, as the last recompile returned it)
    saves a walk over every shard."""
    delta: dict[str, Counter[Pattern]] = defaultdict(Counter)
    for sign, rules in ((-1, removed), (1, added)):
        for rule in rules:
            group = _top(rule.category, jurisdiction)
            for pattern in patterns_of(rule):
                delta[group][pattern] += sign
    shards = dict(previous)
    by_group = dict(index_groups(previous) if groups_of is None else groups_of)
    fresh: dict[ShardKey, Shard] = {}
    replaced: list[ShardKey] = []
    memo: dict[str, list[dict[str, str]]] = {}
    for group, change in delta.items():
        if not any(change.values()):
            continue
        uses: Counter[Pattern] = Counter()
        for key in by_group.pop(group, ()):
            uses.update(shards.pop(key).uses)
            replaced.append(key)
        uses.update(change)
        kept = Counter({p: n for p, n in uses.items() if n > 0})
        for key, part in _split(group, kept, jurisdiction, target):
            old = previous.get(key)
            if old is not None and old.group == group and old.uses.keys() == part.keys():
                shards[key] = Shard(key, group, dict(part), old.definition, old.digest)
            else:
                shards[key] = fresh[key] = make_shard(key, group, part, jurisdiction, memo)
            by_group.setdefault(group, []).append(key)
    gone = [key for key in replaced if key not in shards]
    return Recompiled(shards, fresh, gone, by_group)


def index_groups(shards: Mapping[ShardKey, Shard]) -> dict[str, list[ShardKey]]:
    """The keys of ``shards`` by the group they were split from."""
    by_group: dict[str, list[ShardKey]] = defaultdict(list)
    for key, shard in shards.items():
        by_group[shard.group].append(key)
    return dict(by_group)


def _split(group: str, uses: Mapping[Pattern, int], jurisdiction: Jurisdiction,
           target: int) -> list[tuple[ShardKey, dict[Pattern, int]]]:
    """A group's patterns by shard: a part over ``target`` patterns is split by the next
    category level (patterns on the part's own category stay in it)."""
    parts: list[tuple[ShardKey, dict[Pattern, int]]] = []
    pending: list[tuple[str, dict[Pattern, int]]] = [(group, dict(uses))]
    while pending:
        code, part = pending.pop()
        if len(part) > target:
            own: dict[Pattern, int] = {}
            deeper: dict[str, dict[Pattern, int]] = defaultdict(dict)
            depth = jurisdiction.category_depth(code)
            for pattern, count in part.items():
                path = jurisdiction.category_path(pattern.category)
                if len(path) == depth:
                    own[pattern] = count
                else:
                    deeper[path[len(path) - depth - 1]][pattern] = count
            if deeper:
                pending += list(deeper.items())
                part = own
        if part:
            parts.append((code, part))
    return parts


def check_capacity(shard: Shard) -> None:
    """Refuse a shard that would exceed a durable_rules cap, with a message that says which
    and where, before the engine fails with an error number. (Two patterns never share a
    condition path, so the engine's cap of 256 rules per path cannot be reached.)"""
    if len(shard.definition) > MAX_RULES_PER_RULESET:
        raise ShardTooLarge(
            f"shard {shard.label} has {len(shard.definition)} engine rules (distinct "
            f"categories and combinations of `when` values); the engine takes at most "
            f"{MAX_RULES_PER_RULESET} per ruleset", code="shard_too_large",
            shard=shard.label, rules=len(shard.definition), limit=MAX_RULES_PER_RULESET)
    children: dict[tuple[Any, ...], set[tuple[Any, ...]]] = defaultdict(set)
    for definition in shard.definition.values():
        prefix: tuple[Any, ...] = ()
        for test in definition["all"][0]["m"]["$and"]:
            (field_name, value), = test.items()
            token = (field_name, value)
            children[prefix].add(token)
            prefix += (token,)
    for prefix, tests in children.items():
        if len(tests) > MAX_TESTS_PER_NODE:
            raise ShardTooLarge(
                f"shard {shard.label}: {len(tests)} distinct tests follow one condition "
                f"({str(prefix)[:80] if prefix else 'the root'}); the engine takes at most "
                f"{MAX_TESTS_PER_NODE}",
                code="shard_too_large", shard=shard.label, limit=MAX_TESTS_PER_NODE)
