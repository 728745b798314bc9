"""Drawing responsibility graphs with Graphviz: the one module that imports ``graphviz``.

:func:`to_dot` turns a graph from :mod:`rules.graphs` into DOT source (clusters, a CJK font,
colours by relation and status, a legend); :func:`render` runs the real ``dot`` executable
for SVG and PNG. DOT and JSON need no executable, so they keep working where Graphviz is not
installed; SVG and PNG then raise :class:`~jurisdiction.errors.Unavailable`
(``graphviz_unavailable``). The matrix view draws as one HTML-like table (a grid of coloured
cells with row and column headers), not as thousands of nodes.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Mapping
from html import escape
from typing import Any

import graphviz
import networkx as nx

from jurisdiction.errors import InvalidInput, LimitExceeded, Unavailable
from rules.graphs import to_json

FONT = "Noto Sans CJK SC"
FORMATS = ("svg", "png", "dot", "json")
DEFAULT_TIMEOUT = 60.0

RELATION_COLOURS = {
    "leads": "#1f5fa8",
    "assists": "#7b8794",
    "governs": "#6a3d9a",
    "contains": "#b0b0b0",
    "decides": "#2e7d32",
    "shares_work": "#00897b",
    "disputes": "#c62828",
    "returns": "#ef6c00",
    "next": "#546e7a",
    "writes": "#2e7d32",
    "retires": "#8d6e63",
    "outranks": "#1565c0",
    "supersedes": "#6a1b9a",
}
RELATION_NAMES = {"leads": "主办", "assists": "协办", "governs": "属地管辖", "contains": "包含",
                  "decides": "规则决定", "shares_work": "协同", "disputes": "争议",
                  "returns": "退单", "next": "流转", "writes": "写入规则", "retires": "废止",
                  "outranks": "优先于", "supersedes": "取代"}
STATUS_COLOURS = {
    "rule": "#43a047",
    "gap": "#fb8c00",
    "fallback": "#fb8c00",
    "ambiguous": "#e53935",
    "overlap": "#ef9a9a",
    "unrouted": "#9e9e9e",
    "out_of_scope": "#5c6bc0",
}
STATUS_FILLS = {"rule": "#c8e6c9", "gap": "#ffe0b2", "fallback": "#ffe0b2",
                "ambiguous": "#ffcdd2", "overlap": "#ffebee", "unrouted": "#eeeeee",
                "out_of_scope": "#c5cae9"}
STATUS_NAMES = {"rule": "有规则", "gap": "兜底（缺口）", "fallback": "兜底（缺口）",
                "ambiguous": "规则冲突", "overlap": "特定条件下冲突", "unrouted": "无人承办",
                "out_of_scope": "不派单（受理口径）"}
KIND_STYLE = {
    "unit": {"shape": "box", "style": "rounded,filled", "fillcolor": "#e3f2fd"},
    "category": {"shape": "folder", "style": "filled", "fillcolor": "#fff8e1"},
    "area": {"shape": "house", "style": "filled", "fillcolor": "#f1f8e9"},
    "rule": {"shape": "note", "style": "filled", "fillcolor": "#f5f5f5"},
    "cell": {"shape": "box", "style": "filled", "fillcolor": "#ffffff"},
    "event": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fafafa"},
    "dispute": {"shape": "octagon", "style": "filled", "fillcolor": "#ffcdd2"},
    "ruling": {"shape": "ellipse", "style": "filled,bold", "fillcolor": "#d1c4e9"},
}


def to_dot(graph: nx.DiGraph, *, title: str, links: Mapping[Any, str] | None = None) -> str:
    """DOT source for ``graph``, titled ``title``; ``links`` maps nodes to the address a
    click on them opens (the workbench's drill-down; the API draws none)."""
    if graph.graph.get("view") == "matrix":
        return _matrix_dot(graph, title=title)
    dot = graphviz.Digraph(
        name="quanze",
        graph_attr={"label": title, "labelloc": "t", "fontsize": "18", "fontname": FONT,
                    "rankdir": "LR", "charset": "UTF-8", "compound": "true",
                    "nodesep": "0.25", "ranksep": "0.8"},
        node_attr={"fontname": FONT, "fontsize": "11"},
        edge_attr={"fontname": FONT, "fontsize": "9"},
    )
    captions: dict[str, str] = graph.graph.get("clusters", {})
    # Node ids such as "unit:D-CG" would read as node:port in DOT, so number them instead.
    ids = {node: f"n{i}" for i, node in enumerate(graph.nodes)}
    members: dict[str | None, list[str]] = defaultdict(list)
    for node, data in graph.nodes(data=True):
        members[data.get("cluster")].append(node)
    links = links or {}

    def attrs(node: Any) -> dict[str, str]:
        found = _node_attrs(graph.nodes[node])
        if node in links:
            found.update(URL=links[node], target="_top")
        return found

    for node in members.pop(None, []):
        dot.node(ids[node], **attrs(node))
    for i, key in enumerate(sorted(k for k in members if k is not None)):
        with dot.subgraph(name=f"cluster_{i}") as sub:
            sub.attr(label=captions.get(key, key), style="rounded,filled", color="#cfd8dc",
                     fillcolor="#fafafa", fontname=FONT, fontsize="12")
            for node in members[key]:
                sub.node(ids[node], **attrs(node))
    for u, v, data in graph.edges(data=True):
        dot.edge(ids[u], ids[v], **_edge_attrs(data))
    _legend(dot, graph)
    return str(dot.source)


def _node_attrs(data: dict[str, Any]) -> dict[str, str]:
    attrs = dict(KIND_STYLE.get(data.get("kind", ""), {}))
    attrs["label"] = str(data.get("label", ""))
    if data.get("tooltip"):
        attrs["tooltip"] = str(data["tooltip"])
    status = data.get("status")
    if status in STATUS_COLOURS:
        attrs["fillcolor"] = STATUS_FILLS[status]
        attrs["color"] = STATUS_COLOURS[status]
        attrs["penwidth"] = "2" if status != "rule" else "1"
        if status != "rule":
            attrs["label"] += f"\n{STATUS_NAMES[status]}"
    if data.get("focus"):
        attrs["penwidth"] = "3"
        attrs["fontsize"] = "14"
        attrs["style"] = attrs.get("style", "filled") + ",bold"
    return attrs


def _edge_attrs(data: dict[str, Any]) -> dict[str, str]:
    relation = data.get("relation", "")
    colour = RELATION_COLOURS.get(relation, "#000000")
    status = data.get("status")
    if status in STATUS_COLOURS and status != "rule":
        colour = STATUS_COLOURS[status]
    weight = max(1, int(data.get("weight", 1)))
    attrs = {"color": colour, "fontcolor": colour, "label": str(data.get("label", "")),
             "penwidth": f"{1 + math.log2(weight):.2f}", "weight": str(weight)}
    if data.get("colour"):  # a builder's own emphasis, e.g. the pairs that fight most
        attrs["color"] = attrs["fontcolor"] = str(data["colour"])
    if relation in ("assists", "contains", "returns"):
        attrs["style"] = "dashed"
    if relation == "shares_work":
        attrs["dir"] = "both"
    return attrs


def _legend(dot: graphviz.Digraph, graph: nx.DiGraph) -> None:
    relations = sorted({d.get("relation", "") for _, _, d in graph.edges(data=True)}
                       & RELATION_COLOURS.keys())
    seen = {d.get("status") for _, d in graph.nodes(data=True)}
    seen |= {d.get("status") for _, _, d in graph.edges(data=True)}
    statuses = [s for s in STATUS_COLOURS if s in seen]
    if not relations and not statuses:
        return
    rows = ['<TR><TD COLSPAN="2"><B>图例</B></TD></TR>']
    for relation in relations:
        rows.append(f'<TR><TD><FONT COLOR="{RELATION_COLOURS[relation]}">━━</FONT></TD>'
                    f'<TD ALIGN="LEFT">{escape(RELATION_NAMES[relation])}</TD></TR>')
    for status in statuses:
        rows.append(f'<TR><TD BGCOLOR="{STATUS_COLOURS[status]}">  </TD>'
                    f'<TD ALIGN="LEFT">{escape(STATUS_NAMES[status])}</TD></TR>')
    label = ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="2">'
             + "".join(rows) + "</TABLE>>")
    with dot.subgraph(name="cluster_legend") as sub:
        sub.attr(label="", style="rounded", color="#b0bec5")
        sub.node("__legend__", label=label, shape="plaintext", fontname=FONT, fontsize="10")


def _matrix_dot(graph: nx.DiGraph, *, title: str) -> str:
    rows: list[dict[str, str]] = graph.graph["rows"]
    columns: list[dict[str, str]] = graph.graph["columns"]
    cells = graph.nodes
    width = len(columns) + 1
    parts = ['<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="2">',
             f'<TR><TD COLSPAN="{width}"><FONT POINT-SIZE="16"><B>{escape(title)}</B></FONT>'
             "</TD></TR>", _matrix_legend(width),
             '<TR><TD ALIGN="LEFT"><B>分类 \\ 乡镇街道</B></TD>']
    parts += [f'<TD><B>{escape(c["name"])}</B></TD>' for c in columns]
    parts.append("</TR>")
    group = None
    for row in rows:
        if row.get("group") and row["group"] != group:
            group = row["group"]
            parts.append(f'<TR><TD COLSPAN="{width}" ALIGN="LEFT" BGCOLOR="#eceff1">'
                         f"<B>{escape(group)}</B></TD></TR>")
        parts.append(f'<TR><TD ALIGN="LEFT">{escape(row["code"])} {escape(row["name"])}</TD>')
        for col in columns:
            data = cells[f"cell:{row['code']}@{col['code']}"]
            # Empty cells of a minimum size: no text to lay out, 36,000 times over.
            colour = STATUS_COLOURS.get(data["status"], "#ffffff")
            parts.append(f'<TD BGCOLOR="{colour}" WIDTH="36" HEIGHT="10"></TD>')
        parts.append("</TR>")
    parts.append("</TABLE>>")
    dot = graphviz.Digraph(name="quanze_matrix",
                           graph_attr={"charset": "UTF-8", "fontname": FONT, "dpi": "72"},
                           node_attr={"fontname": FONT, "fontsize": "9"})
    dot.node("matrix", label="".join(parts), shape="plaintext")
    return str(dot.source)


def _matrix_legend(width: int) -> str:
    shown = ("rule", "fallback", "ambiguous", "overlap", "unrouted", "out_of_scope")
    items = "".join(f'<TD BGCOLOR="{STATUS_COLOURS[s]}" WIDTH="14" HEIGHT="10" '
                    f'FIXEDSIZE="TRUE"></TD><TD ALIGN="LEFT">'
                    f"{escape(STATUS_NAMES[s])}</TD>" for s in shown)
    return (f'<TR><TD COLSPAN="{width}" ALIGN="LEFT">'
            f'<TABLE BORDER="0" CELLSPACING="2" FIXEDSIZE="TRUE" WIDTH="400" HEIGHT="16">'
            f"<TR>{items}</TR></TABLE></TD></TR>")


def render(graph: nx.DiGraph, fmt: str, *, title: str, timeout: float = DEFAULT_TIMEOUT,
           links: Mapping[Any, str] | None = None) -> bytes:
    """The graph as ``svg``, ``png`` (through the ``dot`` executable), ``dot`` or ``json``."""
    if fmt == "json":
        return json.dumps(to_json(graph), ensure_ascii=False, default=str).encode("utf-8")
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown graph format {fmt!r}; use one of {', '.join(FORMATS)}",
                           code="invalid_format", format=fmt)
    source = to_dot(graph, title=title, links=links)
    if fmt == "dot":
        return source.encode("utf-8")
    executable = shutil.which("dot")
    if executable is None:
        raise Unavailable("Graphviz is not installed (no `dot` executable on PATH); "
                          "format=dot and format=json still work",
                          code="graphviz_unavailable", format=fmt)
    try:
        done = subprocess.run([executable, f"-T{fmt}"], input=source.encode("utf-8"),
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise LimitExceeded(f"Graphviz did not finish within {timeout:g} s; narrow the view "
                            "with a filter", code="graph_too_large", format=fmt,
                            timeout=timeout) from None
    except OSError as exc:
        raise Unavailable(f"Graphviz could not be run: {exc}", code="graphviz_unavailable",
                          format=fmt) from None
    if done.returncode != 0:
        raise Unavailable("Graphviz failed: " + done.stderr.decode("utf-8", "replace")[:500],
                          code="graphviz_unavailable", format=fmt,
                          returncode=done.returncode)
    return done.stdout
