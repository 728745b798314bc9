"""Units chosen by name on the workbench's forms: suggestions as a person types (the unit
picker, static/unit-picker.js) and, for a form sent without JavaScript, the server's reading
of what was typed — a full name, a code, ``名称（代码）``, or a part of a name that only one
unit has. An unknown or ambiguous name is an :class:`InvalidInput` naming the field, with a
Chinese message the page shows beside it."""

from __future__ import annotations

import re
from collections.abc import Mapping

from jurisdiction.model import Unit
from rules.model import TERRITORIAL

#: what the picker shows for the territorial role: the street or township of each ticket
TERRITORIAL_NAME = "属地街乡"
#: separators between several units typed in one field
SEPARATORS = re.compile(r"[、，,;；\n]+")
_WITH_CODE = re.compile(r"^(?P<name>.*?)\s*[（(]\s*(?P<code>[^（）()]+?)\s*[)）]$")


class UnitNotResolved(ValueError):
    """What was typed names no unit, or several; ``message`` is for the person (Chinese)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def suggest(units: Mapping[str, Unit], query: str, *, territorial: bool = False,
            limit: int = 12) -> list[dict[str, str]]:
    """Units whose name contains ``query`` or whose code starts with it (codes first, then
    names by where the match starts), as ``{code, name, kind}``."""
    q = query.strip()
    found: list[tuple[tuple[int, int, str], dict[str, str]]] = []
    if territorial and (not q or q in TERRITORIAL_NAME or TERRITORIAL.startswith(q.lower())
                        or "属地".startswith(q)):
        found.append(((0, 0, ""), {"code": TERRITORIAL, "name": TERRITORIAL_NAME,
                                   "kind": "role"}))
    if not q:
        return [item for _, item in found][:limit]
    upper = q.upper()
    for unit in units.values():
        if unit.code.upper().startswith(upper):
            rank = (1, 0, unit.code)
        elif q in unit.name:
            rank = (2, unit.name.index(q), unit.name)
        else:
            continue
        found.append((rank, {"code": unit.code, "name": unit.name, "kind": str(unit.kind)}))
    found.sort(key=lambda pair: pair[0])
    return [item for _, item in found[:limit]]


def resolve(units: Mapping[str, Unit], text: str, *, territorial: bool = False) -> str:
    """The code of the one unit ``text`` names.

    >>> from jurisdiction.model import UnitKind
    >>> units = {u.code: u for u in (Unit("D-WJ", "区卫生健康委员会", UnitKind.DEPARTMENT),
    ...                              Unit("D-CG", "区城市管理委员会", UnitKind.DEPARTMENT),
    ...                              Unit("D-CZ", "区城市管理综合行政执法局", UnitKind.DEPARTMENT))}
    >>> [resolve(units, t) for t in ("卫生健康", "d-cg", "区城市管理委员会（D-CG）", "执法局")]
    ['D-WJ', 'D-CG', 'D-CG', 'D-CZ']
    >>> try:
    ...     resolve(units, "城市管理")
    ... except UnitNotResolved as exc:
    ...     print(exc.message[:34])
    “城市管理”对应多个单位：区城市管理委员会、区城市管理综合行政执法局
    """
    typed = text.strip()
    if not typed:
        raise UnitNotResolved("请填写单位")
    if territorial and typed in (TERRITORIAL, TERRITORIAL_NAME,
                                 f"{TERRITORIAL_NAME}（{TERRITORIAL}）"):
        return TERRITORIAL
    if typed in units:
        return typed
    by_upper = {code.upper(): code for code in units}
    if typed.upper() in by_upper:
        return by_upper[typed.upper()]
    with_code = _WITH_CODE.match(typed)
    if with_code:
        code = with_code["code"]
        if territorial and code == TERRITORIAL:
            return TERRITORIAL
        if code in units:
            return code
        if code.upper() in by_upper:
            return by_upper[code.upper()]
    exact = [u.code for u in units.values() if u.name == typed]
    if len(exact) == 1:
        return exact[0]
    partial = [u for u in units.values() if typed in u.name]
    if len(partial) == 1:
        return partial[0].code
    if not partial:
        raise UnitNotResolved(f"找不到名称或代码为“{typed}”的单位")
    names = "、".join(u.name for u in partial[:5]) + ("等" if len(partial) > 5 else "")
    raise UnitNotResolved(f"“{typed}”对应多个单位：{names}，请从候选中选择或填写全称")


def resolve_many(units: Mapping[str, Unit], text: str, *,
                 territorial: bool = False) -> list[str]:
    """The codes of the units typed in one field, separated by 、，, or ;."""
    return [resolve(units, part, territorial=territorial)
            for part in SEPARATORS.split(text) if part.strip()]
