"""The one door to durable_rules.

Everything quanze asks of the engine passes here: loading compiled shards (plain JSON from
:mod:`rules.compiler`) and asking which rules match a ticket message. The module hides the
engine's habits:

- durable_rules' ``Host`` runs background timer threads that touch rulesets without locks;
  quanze never creates one and drives the C core directly from the calling thread, under a
  lock, so one owner uses the engine at a time.
- Posted *events* are consumed by the first rule that fires; a ticket is asserted as a *fact*
  (so every matching rule reports) and retracted at once, under a fixed session id — a new
  session per ticket costs ~25 MB (durable-rules-facts.md).
- A ruleset cannot change after creation. Shards are keyed by a digest of their definition:
  a new rule-set version creates only the shards whose rules changed and deletes the ones
  no longer used (one generation later, see :class:`Engine`).
- The engine's exceptions become :class:`~jurisdiction.errors.EngineError`.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import durable_rules_engine as _dre
import orjson

from jurisdiction.errors import EngineError, EngineRefused
from rules.compiler import Shard, ShardKey

_SID = "0"
_HANDLED, _NOT_HANDLED = 0, 1


#: which ruleset (by shard digest) serves each shard key, in one generation of the engine
Routes = Mapping[ShardKey, str]


class Engine:
    """Compiled shards loaded into durable_rules, answering "which rules match".

    Each :meth:`load` makes a new generation of routes. A caller that took the routes of a
    generation (with the matrix they belong to, so a decision names the version whose rules
    it used) may still match by them after the next load: the rulesets of the previous
    generation are deleted only at the load after that. Older routes get None from
    :meth:`match` (the caller decides with the plain evaluator)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handles: dict[str, int] = {}  # shard digest -> engine handle
        self._routes: Routes = {}  # shard key -> digest
        self._previous: Routes = {}
        self._counter = itertools.count(1)
        #: rulesets created since this engine was made (a one-rule change creates one)
        self.created = 0

    def load(self, shards: Mapping[ShardKey, Shard], routes: Routes | None = None) -> Routes:
        """Make ``shards`` the live set; returns its routes (for :meth:`match`). ``routes``,
        if the caller has them (a change updates the previous ones), saves a walk over every
        shard."""
        wanted = routes if routes is not None else {k: s.digest for k, s in shards.items()}
        missing = set(wanted.values()).difference(self._handles)
        created = self._create_missing(
            [shard for shard in shards.values() if shard.digest in missing] if missing else [])
        with self._lock:
            self._handles.update(created)
            self._previous, self._routes = self._routes, wanted
            stale = set(self._handles).difference(wanted.values(), self._previous.values())
            for digest in stale:
                _delete(self._handles.pop(digest))
        return wanted

    @property
    def routes(self) -> Routes:
        return self._routes

    def preload(self, shards: Iterable[Shard]) -> int:
        """Create the rulesets ``shards`` need without using them yet, so that a change is
        known to be servable before it commits; the next :meth:`load` uses them (or deletes
        them, if the change never committed). Returns how many were created."""
        created = self._create_missing(shards)
        with self._lock:
            self._handles.update(created)
        return len(created)

    def _create_missing(self, shards: Iterable[Shard]) -> dict[str, int]:
        created: dict[str, int] = {}
        handles = self._handles
        try:
            for shard in shards:
                digest = shard.digest
                if digest not in handles and digest not in created:
                    created[digest] = handle = _create(f"q{digest}", shard.definition)
                    _prime(handle)
        except EngineError:
            for handle in created.values():
                _delete(handle)
            raise
        self.created += len(created)
        return created

    def match(self, message: Mapping[str, Any], keys: Iterable[ShardKey],
              routes: Routes | None = None) -> set[str] | None:
        """The names of every pattern (:class:`rules.compiler.Pattern`), in the shards named
        by ``keys``, that the message matches, by ``routes`` (default: the live ones); None if
        those routes' rulesets are gone."""
        body = orjson.dumps(message).decode()[1:]  # on every ticket: the fast encoder
        matched: set[str] = set()
        with self._lock:
            if routes is None:
                routes = self._routes
            for key in keys:
                digest = routes.get(key)
                if digest is None:
                    continue
                handle = self._handles.get(digest)
                if handle is None:
                    return None
                fact = f'{{"id":{next(self._counter)},"sid":"{_SID}",{body}'
                try:
                    matched.update(_assert_and_collect(handle, fact))
                finally:
                    _retract(handle, fact)
        return matched

    @property
    def ruleset_count(self) -> int:
        return len(self._handles)

    def close(self) -> None:
        with self._lock:
            for handle in self._handles.values():
                _delete(handle)
            self._handles.clear()
            self._routes = self._previous = {}


#: A rule every ruleset gets, fired by the priming fact only (tickets have no ``~p``), so
#: that the session's action context is left freed (see :func:`_delete`).
_PRIME_RULE = {"~prime": {"all": [{"m": {"~p": 1}}]}}
_PRIME_FACT = f'{{"id":0,"sid":"{_SID}","~p":1}}'


def _create(name: str, definition: Mapping[str, Any]) -> int:
    try:
        return int(_dre.create_ruleset(name, orjson.dumps({**definition, **_PRIME_RULE})
                                       .decode()))
    except _dre.error as exc:
        raise EngineRefused(f"the rule engine refused ruleset {name}: {exc}",
                            ruleset=name) from exc


def _prime(handle: int) -> None:
    """Create the ruleset's session state now: the engine allocates it on the first fact,
    which otherwise lands on the first ticket routed through the shard (measured: the p99 of
    routing the synthetic city rose from 0.3 to 1.1 ms without this). The priming fact fires
    the priming rule, whose completed action leaves the session's context pointers null."""
    try:
        _assert_and_collect(handle, _PRIME_FACT)
    finally:
        _retract(handle, _PRIME_FACT)


def _delete(handle: int) -> None:
    """Delete a ruleset and its session. ``delete_ruleset`` alone frees the ruleset but not
    its session's pools: ~125 KB lost per small ruleset (a 2,000-rule one lost 25-40 MB),
    +0.1-0.2 MB per rule-set version. ``delete_state`` frees them, but it frees the
    session's action context too, which the engine leaves uninitialised until an action
    completes (it crashed on a session that never fired): every session here is primed by a
    fired and completed action first (:func:`_prime`), and every match completes its
    actions (:func:`_assert_and_collect`). Measured: 1,000 create/delete cycles, +125 MB
    before, +0 MB after."""
    with contextlib.suppress(_dre.error):
        _dre.delete_state(handle, _SID)
    with contextlib.suppress(_dre.error):  # already gone; nothing to free
        _dre.delete_ruleset(handle)


def _assert_and_collect(handle: int, fact: str) -> list[str]:
    try:
        result = _dre.assert_fact(handle, fact)
    except _dre.error as exc:
        raise EngineError(f"the rule engine failed on a ticket: {exc}",
                          code="engine_failed") from exc
    if result[0] == _NOT_HANDLED:
        return []
    if result[0] != _HANDLED:
        raise EngineError(f"unexpected engine result {result[0]}", code="engine_failed")
    state = result[1]
    names: list[str] = []
    action = _dre.start_action_for_state(handle, state)
    while action:
        names.append(_action_name(action[1]))
        following = _dre.complete_and_start_action(handle, state)
        action = (None, following) if following else None
    return names


def _action_name(message: str) -> str:
    """The pattern name from a fired action's message ``{"<name>": {...}}``, read off the
    front of the JSON (names are plain codes and hex; parsing the whole fact per match was
    measurable).

    >>> _action_name('{"0301#c2bd4f2e61bdd3ca": {"id": 3, "c1": "03"}}')
    '0301#c2bd4f2e61bdd3ca'
    """
    return message[2:message.index('"', 2)]


def _retract(handle: int, fact: str) -> None:
    try:  # noqa: SIM105 (contextlib.suppress costs more; this runs per shard per ticket)
        _dre.retract_fact(handle, fact)
    except _dre.error:
        pass
