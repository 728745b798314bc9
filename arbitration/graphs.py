"""Arbitration graphs: which units fight (``hotspots``), how one ticket bounced (``ticket``),
and where a ruling's rule came from and went (``lineage``). Pure: plain functions from rows
(dicts and tuples, as :mod:`arbitration.statistics` fetches them) to a
:class:`networkx.MultiDiGraph`; drawing lives in :mod:`api.render`.

The conventions are those of :mod:`rules.graphs`: nodes carry ``label``, ``kind``, ``code``,
``cluster`` and ``tooltip``; edges carry ``relation``, ``weight`` and ``label``, parallel edges
keyed by their relation. New here: node kinds ``event``, ``dispute`` and ``ruling``; edge
relations ``disputes`` (争议, between two parties), ``returns`` (退单, from the returning unit
to the unit proposed or dispatched next), ``next`` (the ticket's path in time), ``writes``,
``retires``, ``outranks`` and ``supersedes``. A hotspot edge among the pairs that fight most
carries ``hot=True`` and ``colour`` (red).

>>> g = hotspots_view([("D-CG", "JD-HP", 3)], [("D-CG", "JD-HP", 2)], names={"D-CG": "城管委"})
>>> g.nodes["unit:D-CG"]["label"], g.edges["unit:D-CG", "unit:JD-HP", "returns"]["weight"]
('城管委', 2)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import networkx as nx

from rules.graphs import rule_node, unit_node

HOT_COLOUR = "#e53935"
DEFAULT_HOT = 3
RELATIONS = ("disputes", "returns", "next", "writes", "retires", "outranks", "supersedes")

#: Chinese names of ticket event types, for the labels of the ticket view.
EVENT_NAMES = {
    "dispatched": "派单", "signed": "签收", "return_requested": "申请退单",
    "return_upheld": "退单通过", "return_rejected": "退单驳回", "reassigned": "改派",
    "completed": "办结", "dispute_opened": "争议立案", "dispute_closed": "争议结束",
    "closed_out_of_scope": "非受理范围办结",
}
REASON_NAMES = {"bounce": "来回推诿", "bounce_cap": "多次派单无人签收", "ambiguous": "规则冲突",
                "return": "退单争议", "manual": "人工立案"}


def ruling_node(ruling_id: str) -> str:
    return f"ruling:{ruling_id}"


def _new_graph(view: str, focus: str | None, title: str, **extra: Any) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    g.graph.update(view=view, focus=focus, title=title, clusters={}, **extra)
    return g


def _unit(g: nx.MultiDiGraph, code: str, names: Mapping[str, str]) -> str:
    node = unit_node(code)
    if node not in g:
        name = names.get(code, code)
        g.add_node(node, kind="unit", code=code, label=name, cluster=None,
                   tooltip=f"{name}（{code}）")
    return node


def _as_time(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _local(value: datetime | str, tz: ZoneInfo) -> str:
    return _as_time(value).astimezone(tz).strftime("%Y-%m-%d %H:%M")


# -- hotspots --------------------------------------------------------------------------------


def hotspots_view(dispute_pairs: Iterable[tuple[str, str, int]],
                  return_pairs: Iterable[tuple[str, str, int]], *,
                  names: Mapping[str, str] | None = None, hot: int = DEFAULT_HOT,
                  period: Mapping[str, str] | None = None) -> nx.MultiDiGraph:
    """Units as nodes; ``disputes`` edges (both ways, weighted by the disputes the two were
    parties to) and ``returns`` edges (A → B: A returned tickets that went, or were proposed
    to go, to B). The ``hot`` pairs with the most disputes and returns together (either
    direction) are marked ``hot`` and red. Edge labels give the counts.

    >>> g = hotspots_view([("A", "B", 5), ("B", "C", 1)], [("B", "A", 4), ("C", "A", 1)],
    ...                   hot=1)
    >>> [(u, v, k) for u, v, k, d in g.edges(keys=True, data=True) if d["hot"]]
    [('unit:A', 'unit:B', 'disputes'), ('unit:B', 'unit:A', 'returns')]
    >>> g.edges["unit:B", "unit:A", "returns"]["label"]
    '退单 4'
    """
    names = names or {}
    g = _new_graph("hotspots", None, "争议与退单热点", period=dict(period or {}))
    fights: Counter[frozenset[str]] = Counter()
    for a, b, n in dispute_pairs:
        g.add_edge(_unit(g, a, names), _unit(g, b, names), key="disputes",
                   relation="disputes", weight=int(n), label=f"争议 {n}", dir="both")
        fights[frozenset((a, b))] += int(n)
    for a, b, n in return_pairs:
        g.add_edge(_unit(g, a, names), _unit(g, b, names), key="returns", relation="returns",
                   weight=int(n), label=f"退单 {n}")
        fights[frozenset((a, b))] += int(n)
    ranked = sorted(fights.items(), key=lambda kv: (-kv[1], sorted(kv[0])))
    hottest = {pair for pair, _ in ranked[:max(0, hot)]}
    for u, v, data in g.edges(data=True):
        pair = frozenset((g.nodes[u]["code"], g.nodes[v]["code"]))
        data["hot"] = pair in hottest
        if data["hot"]:
            data["colour"] = HOT_COLOUR
    for node in g:
        code = g.nodes[node]["code"]
        total = sum(n for pair, n in fights.items() if code in pair)
        g.nodes[node]["weight"] = total
        g.nodes[node]["tooltip"] += f"：争议与退单 {total}"
    return g


# -- ticket ----------------------------------------------------------------------------------


def _event_label(event: Mapping[str, Any], names: Mapping[str, str]) -> str:
    kind = str(event.get("type", ""))
    name = EVENT_NAMES.get(kind, kind)
    unit = event.get("to_unit") if kind == "reassigned" else event.get("unit")
    text = f"{name} {names.get(unit, unit)}" if unit else name
    if kind == "return_requested" and event.get("proposed_unit"):
        proposed = event["proposed_unit"]
        text += f"\n建议改派 {names.get(proposed, proposed)}"
    return text


def ticket_view(history: Mapping[str, Any], *, names: Mapping[str, str] | None = None,
                timezone: str = "Asia/Shanghai") -> nx.MultiDiGraph:
    """A ticket's path in time, left to right: each event (派单, 退单, 改派 …) a node with its
    local time, the dispute opened about it and its ruling in their place, joined by ``next``
    edges labelled with the time between. ``history`` is
    :func:`arbitration.statistics.ticket_history`'s dict: ``ticket_id``, ``events`` (each
    ``seq``, ``type``, ``at`` and the event's fields), ``disputes`` (``id``, ``reason``,
    ``parties``, ``opened_at``) and ``rulings`` (``id``, ``dispute_id``, ``lead``, ``at``).

    >>> t = "2026-11-23T09:00:00+08:00"
    >>> g = ticket_view({"ticket_id": "T1", "events": [
    ...     {"seq": 1, "type": "dispatched", "unit": "D-CG", "at": t},
    ...     {"seq": 2, "type": "return_requested", "unit": "D-CG",
    ...      "at": "2026-11-23T11:30:00+08:00"}], "disputes": [], "rulings": []})
    >>> [g.nodes[n]["label"] for n in g]
    ['2026-11-23 09:00\\n派单 D-CG', '2026-11-23 11:30\\n申请退单 D-CG']
    >>> g.edges["step:T1:1", "step:T1:2", "next"]["label"]
    '+2.5 小时'
    """
    names = names or {}
    tz = ZoneInfo(timezone)
    ticket_id = str(history["ticket_id"])
    steps: list[tuple[datetime, int, str, dict[str, Any]]] = []
    disputes = {str(d["id"]): d for d in history.get("disputes", [])}
    placed: set[str] = set()
    for i, event in enumerate(history.get("events", [])):
        kind = str(event.get("type"))
        at = _as_time(event["at"])
        dispute_id = event.get("dispute_id")
        if kind == "dispute_opened" and dispute_id in disputes and dispute_id not in placed:
            placed.add(str(dispute_id))
            steps.append((at, i, "dispute", {"dispute": disputes[str(dispute_id)]}))
            continue
        steps.append((at, i, "event", {"event": event}))
    offset = len(steps)
    for j, dispute in enumerate(disputes.values()):
        if str(dispute["id"]) not in placed:
            steps.append((_as_time(dispute["opened_at"]), offset + j, "dispute",
                          {"dispute": dispute}))
    offset = len(steps)
    for j, ruling in enumerate(history.get("rulings", [])):
        steps.append((_as_time(ruling["at"]), offset + j, "ruling", {"ruling": ruling}))
    steps.sort(key=lambda s: (s[0], s[1]))

    g = _new_graph("ticket", ticket_id, f"工单 {ticket_id} 的流转", timezone=timezone)
    previous: tuple[str, datetime] | None = None
    for index, (at, _, kind, data) in enumerate(steps, start=1):
        when = _local(at, tz)
        if kind == "event":
            event = data["event"]
            node = f"step:{ticket_id}:{event.get('seq', index)}"
            unit = event.get("to_unit") if event.get("type") == "reassigned" \
                else event.get("unit")
            g.add_node(node, kind="event", code=str(event.get("type")), unit=unit,
                       label=f"{when}\n{_event_label(event, names)}", cluster=None,
                       at=at.isoformat(), tooltip=str(event.get("basis") or event.get("note")
                                                      or EVENT_NAMES.get(str(event.get("type")),
                                                                         "")))
        elif kind == "dispute":
            dispute = data["dispute"]
            node = f"dispute:{dispute['id']}"
            parties = "、".join(names.get(p, p) for p in dispute.get("parties") or [])
            reason = REASON_NAMES.get(str(dispute.get("reason")), str(dispute.get("reason")))
            g.add_node(node, kind="dispute", code=str(dispute["id"]), cluster=None,
                       label=f"{when}\n争议 {dispute['id']}（{reason}）\n{parties}",
                       at=at.isoformat(), tooltip=f"状态：{dispute.get('status', '')}")
        else:
            ruling = data["ruling"]
            node = ruling_node(str(ruling["id"]))
            lead = names.get(ruling["lead"], ruling["lead"])
            doc = ruling.get("document_no") or ""
            g.add_node(node, kind="ruling", code=str(ruling["id"]), cluster=None,
                       label=f"{when}\n裁定 {doc}\n主办：{lead}".replace("裁定 \n", "裁定\n"),
                       at=at.isoformat(), tooltip=f"裁定 {ruling['id']}")
        if previous is not None:
            hours = (at - previous[1]).total_seconds() / 3600
            g.add_edge(previous[0], node, key="next", relation="next", weight=1,
                       label=f"+{hours:.3g} 小时" if hours else "")
        previous = (node, at)
    return g


# -- lineage ---------------------------------------------------------------------------------


def _conditions(rule: Mapping[str, Any]) -> int:
    return len(rule.get("when") or {}) + (1 if rule.get("text_any") else 0)


def outranked(written: Mapping[str, Any], rules: Iterable[Mapping[str, Any]]) -> list[str]:
    """Ids of the rules a rule written back from a ruling outranks by authority (step 2 of the
    canon): rules on the same category and area scope with as many conditions — the same
    specificity — that were not themselves written by a ruling, and are not retired.

    >>> w = {"id": "R-RUL", "category": "0301", "area": None, "when": {}, "text_any": []}
    >>> outranked(w, [w, {"id": "R-1", "category": "0301", "area": None, "when": {},
    ...                   "text_any": [], "source": "catalog"},
    ...               {"id": "R-2", "category": "0301", "area": None, "when": {"k": ["v"]},
    ...                "text_any": [], "source": "catalog"}])
    ['R-1']
    """
    out = []
    for rule in rules:
        if rule["id"] == written["id"] or rule.get("source") == "ruling" or rule.get("retired"):
            continue
        if (rule["category"], rule.get("area")) != (written["category"], written.get("area")):
            continue
        if _conditions(rule) == _conditions(written):
            out.append(str(rule["id"]))
    return sorted(out)


def _rule(g: nx.MultiDiGraph, rule_id: str, rules: Mapping[str, Mapping[str, Any]],
          names: Mapping[str, str]) -> str:
    node = rule_node(rule_id)
    if node in g:
        return node
    rule = rules.get(rule_id) or {}
    lead = rule.get("lead")
    scope = rule.get("category", "?") + (f" @ {rule['area']}" if rule.get("area") else "")
    label = f"规则 {rule_id}\n{scope}"
    if lead:
        label += f"\n主办：{names.get(lead, lead)}"
    if rule.get("retired"):
        label += "\n（已废止）"
    g.add_node(node, kind="rule", code=rule_id, label=label, cluster=None,
               source=rule.get("source"), retired=bool(rule.get("retired")),
               tooltip=str(rule.get("basis") or rule_id))
    return node


def lineage_view(lineage: Mapping[str, Any], *,
                 names: Mapping[str, str] | None = None,
                 timezone: str = "Asia/Shanghai") -> nx.MultiDiGraph:
    """A ruling (裁定) and where its rule stands: the rule it wrote (``writes``), the rules it
    retired (``retires``), the rules its rule outranks (``outranks``, see :func:`outranked`),
    and the chain of rulings through ``supersedes`` edges (later → earlier), each with what it
    wrote and retired. ``lineage`` is :func:`arbitration.statistics.ruling_lineage`'s dict:
    ``ruling_id``, ``rulings`` (``id``, ``rule_id``, ``retired_rules``, ``supersedes``,
    ``lead``, ``document_no``, ``at``) and ``rules`` (id → the rule's row).

    >>> rules = {"R-9": {"id": "R-9", "category": "0301", "area": None, "source": "ruling",
    ...                  "lead": "JD-HP"},
    ...          "R-1": {"id": "R-1", "category": "0301", "area": None, "source": "catalog",
    ...                  "lead": "D-CG"}}
    >>> g = lineage_view({"ruling_id": "RUL-1", "rules": rules, "rulings": [
    ...     {"id": "RUL-1", "rule_id": "R-9", "retired_rules": [], "supersedes": None,
    ...      "lead": "JD-HP", "document_no": "示政办裁〔2026〕3号",
    ...      "at": "2026-11-24T10:00:00+08:00"}]})
    >>> sorted((u, v, k) for u, v, k in g.edges(keys=True))
    [('rule:R-9', 'rule:R-1', 'outranks'), ('ruling:RUL-1', 'rule:R-9', 'writes')]
    """
    names = names or {}
    tz = ZoneInfo(timezone)
    focus = str(lineage["ruling_id"])
    rules: Mapping[str, Mapping[str, Any]] = lineage.get("rules", {})
    rows: Sequence[Mapping[str, Any]] = sorted(lineage.get("rulings", []),
                                               key=lambda r: _as_time(r["at"]))
    g = _new_graph("lineage", focus, f"裁定 {focus} 的来龙去脉", timezone=timezone)
    known = {str(r["id"]) for r in rows}
    for row in rows:
        rid = str(row["id"])
        lead = names.get(row["lead"], row["lead"])
        g.add_node(ruling_node(rid), kind="ruling", code=rid, cluster=None, focus=rid == focus,
                   label=f"裁定 {row.get('document_no') or rid}\n{_local(row['at'], tz)}"
                         f"\n主办：{lead}",
                   tooltip=str(row.get("basis") or rid), at=_as_time(row["at"]).isoformat())
    for row in rows:
        node = ruling_node(str(row["id"]))
        if row.get("rule_id"):
            written = _rule(g, str(row["rule_id"]), rules, names)
            g.add_edge(node, written, key="writes", relation="writes", weight=1,
                       label="写入规则")
            written_row = rules.get(str(row["rule_id"]))
            if written_row is not None:
                for peer in outranked(written_row, rules.values()):
                    g.add_edge(written, _rule(g, peer, rules, names), key="outranks",
                               relation="outranks", weight=1, label="优先于")
        for retired in row.get("retired_rules") or []:
            g.add_edge(node, _rule(g, str(retired), rules, names), key="retires",
                       relation="retires", weight=1, label="废止")
        earlier = row.get("supersedes")
        if earlier and str(earlier) in known:
            g.add_edge(node, ruling_node(str(earlier)), key="supersedes",
                       relation="supersedes", weight=1, label="取代")
    return g


__all__ = [
    "EVENT_NAMES", "HOT_COLOUR", "RELATIONS", "hotspots_view", "lineage_view", "outranked",
    "ruling_node", "ticket_view",
]
