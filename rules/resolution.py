"""The resolution canon (domain.md §4) as pure code: who leads (主办) and who assists (协办).

Among matching rules the winner is chosen by
1. specificity (特别规定优于一般规定): deeper category, then deeper area scope, then more
   attribute conditions;
2. authority: a rule written back from a ruling outranks a catalogue rule;
3. explicit priority (higher wins);
4. recency (新的规定优于旧的规定): the later ``valid_from`` wins.
Rules that still tie and name different leads make the routing ``ambiguous``. With no
matching rule the fallback chain applies: a departmental category's default unit — marked, or
derived from a rule that gives the category to a department or utility
(:mod:`rules.departmental`); else the territorial unit (属地兜底) — never for a departmental
matter (国办函〔2025〕66号 §五); else the hotline office.

Resolution reads no clock and makes no ids: the ticket carries its time (``as_of``).

>>> from datetime import datetime, timezone
>>> from jurisdiction.model import *
>>> from rules.model import *
>>> from rules.conditions import TicketContext
>>> j = Jurisdiction.build(
...     [Unit("JD-HP", "和平街道", UnitKind.STREET), Unit("D-ZJ", "住建委", UnitKind.DEPARTMENT)],
...     [Area("1", "示范区", AreaLevel.DISTRICT, None, None),
...      Area("101", "和平街道", AreaLevel.TOWNSHIP, "1", "JD-HP")],
...     [Category("03", "城乡建设", None), Category("0301", "违法建设", "03")])
>>> rules = [Rule("general", "03", "D-ZJ", "b"), Rule("special", "0301", TERRITORIAL, "b")]
>>> t = Ticket("0301", datetime(2026, 1, 1, tzinfo=timezone.utc), area="101")
>>> d = resolve(context_for(t, j), rules, j, Settings())
>>> d.status.value, d.lead, d.rule.id
('routed', 'JD-HP', 'special')
>>> [(c.rule_id, c.step) for c in d.candidates]
[('special', 'won'), ('general', 'specificity')]
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from jurisdiction.model import Category, Jurisdiction
from rules.conditions import TicketContext, mismatch
from rules.departmental import POLICY, departmental_fallback, is_usable_default
from rules.model import (
    TERRITORIAL,
    Candidate,
    Decision,
    Rule,
    Settings,
    Status,
    Ticket,
)

_STEP_NAMES = ("specificity", "specificity", "specificity", "authority", "priority", "recency")
_STEP_REASONS = {
    "specificity": "被更具体的规则 {w} 排除（特别规定优于一般规定）",
    "authority": "被裁定回写规则 {w} 排除（裁定优于目录）",
    "priority": "优先级低于规则 {w}",
    "recency": "生效日期早于规则 {w}（新的规定优于旧的规定）",
}
_NEG_INF = float("-inf")


def context_for(ticket: Ticket, jurisdiction: Jurisdiction) -> TicketContext:
    """The ticket's category and area paths; raises NotFound for unknown codes."""
    area_path = jurisdiction.area_path(ticket.area) if ticket.area else ()
    return TicketContext(ticket, jurisdiction.category_path(ticket.category), area_path)


def rank(rule: Rule, jurisdiction: Jurisdiction) -> tuple[float, ...]:
    """The canon as a sort key: larger wins."""
    return (
        float(jurisdiction.category_depth(rule.category)),
        float(jurisdiction.area_depth(rule.area)) if rule.area else 0.0,
        float(rule.condition_count),
        float(rule.authority),
        float(rule.priority),
        rule.valid_from.timestamp() if rule.valid_from else _NEG_INF,
    )


def departmental_category(ctx: TicketContext, jurisdiction: Jurisdiction) -> Category | None:
    """The nearest category on the ticket's path marked departmental (部门事项/收回事项)."""
    for code in ctx.category_path:
        category = jurisdiction.categories[code]
        if category.departmental:
            return category
    return None


def out_of_scope(ctx: TicketContext, jurisdiction: Jurisdiction) -> Decision | None:
    """The ``out_of_scope`` decision for a ticket whose category (or an ancestor) carries an
    intake flag — not accepted by 12345, or transferred to 110 / 119 / 120 / 122: no lead, no
    rule, the flag instead (domain.md §5a). None when the matter is for dispatch. Both the
    engine path and the plain evaluator go through :func:`resolve`, so they agree.

    >>> from datetime import datetime, timezone
    >>> from jurisdiction.model import Category, Intake, Jurisdiction
    >>> j = Jurisdiction.build([], [], [Category("06", "治安", None, intake=Intake.TRANSFER_110),
    ...                                 Category("0601", "打架斗殴", "06")])
    >>> t = Ticket("0601", datetime(2026, 1, 1, tzinfo=timezone.utc))
    >>> d = out_of_scope(context_for(t, j), j)
    >>> d.status.value, d.lead, d.intake, d.intake_category
    ('out_of_scope', None, 'transfer_110', '06')
    """
    category = jurisdiction.intake_category(ctx.ticket.category)
    if category is None or category.intake is None:
        return None
    intake = category.intake
    where = "" if category.code == ctx.ticket.category else f"（上级分类 {category.code}）"
    action = ("不属于 12345 受理范围，不派单" if intake.value == "not_accepted"
              else "热线直接转接，不派单")
    summary = f"{category.name}{where}标记为“{intake.label}”：{action}"
    return Decision(Status.OUT_OF_SCOPE, None, (), None, (), summary, intake=intake.value,
                    intake_category=category.code)


def resolve_role(code: str, ctx: TicketContext, jurisdiction: Jurisdiction) -> str | None:
    """A unit code as it stands, or the unit a role names for this ticket (None if none)."""
    if code == TERRITORIAL:
        return jurisdiction.territorial_unit(ctx.ticket.area) if ctx.ticket.area else None
    return code


def resolve(
    ctx: TicketContext,
    considered: Sequence[Rule],
    jurisdiction: Jurisdiction,
    settings: Settings,
    matched: Collection[str] | None = None,
    *,
    excluded_by_area: int = 0,
) -> Decision:
    """Decide lead and co-handlers for one ticket.

    ``considered`` are the rules on the ticket's category path (or, with the engine, only
    those that apply in its area: :meth:`rules.store.Matrix.relevant`, with the number left
    out as ``excluded_by_area``); ``matched`` the ids the rule engine reported as matching
    (None: decide matches here with the plain evaluator). A category with an intake flag is
    decided before any rule (:func:`out_of_scope`).
    """
    flagged = out_of_scope(ctx, jurisdiction)
    if flagged is not None:
        return flagged
    departmental = departmental_category(ctx, jurisdiction)
    lost: list[Candidate] = []
    eligible: list[tuple[tuple[float, ...], Rule, str]] = []
    area_path = ctx.area_path
    for rule in considered:
        if matched is not None and rule.id in matched:
            why = None
        elif rule.area is not None and rule.area not in area_path \
                and rule.category in ctx.category_path:
            # what mismatch() would find first; a city-wide category holds many such rules
            # (other districts'), and their reasons are only counted
            excluded_by_area += 1
            continue
        else:
            why = mismatch(rule, ctx)
            if matched is not None:
                why = why or ("engine", "规则引擎判定不匹配")
        if why is not None:
            if why[0] == "area":
                excluded_by_area += 1
            else:
                lost.append(Candidate(rule.id, "lost", why[0], "不匹配：" + why[1]))
            continue
        lead = resolve_role(rule.lead, ctx, jurisdiction)
        if lead is None:
            lost.append(Candidate(rule.id, "lost", "role",
                                  "主办为属地单位，但工单区域无法确定属地单位"))
            continue
        if departmental is not None and _is_territorial_unit(lead, jurisdiction):
            lost.append(Candidate(rule.id, "lost", "departmental",
                                  f"{departmental.name} 为部门事项，不得派给属地单位 {lead}"))
            continue
        eligible.append((rank(rule, jurisdiction), rule, lead))

    if not eligible:
        return _fallback(ctx, jurisdiction, settings, lost, excluded_by_area)

    top_rank = max(e[0] for e in eligible)
    tied = [e for e in eligible if e[0] == top_rank]
    tied.sort(key=lambda e: e[1].id)
    winner_rank, winner, lead = tied[0]
    outranked = sorted((e for e in eligible if e[0] != top_rank), key=lambda e: e[0],
                       reverse=True)
    leads = {e[2] for e in tied}

    candidates: list[Candidate] = []
    if len(leads) > 1:
        interim = _interim_owner(ctx, jurisdiction, settings, departmental)
        ids = tuple(e[1].id for e in tied)
        names = "、".join(ids)
        for e in tied:
            candidates.append(Candidate(e[1].id, "lost", "tie",
                                        f"与 {names} 同级且主办不同（{e[2]}），需裁定"))
        candidates += _outranked(outranked, winner_rank, winner)
        summary = (f"规则 {names} 按特别性、权威、优先级、新旧均无法区分，主办不同；"
                   f"由临时责任单位 {interim or '无'} 先行接办并提请裁定")
        return Decision(Status.AMBIGUOUS, interim, (), None, tuple(candidates + lost),
                        summary, tied_rules=ids, excluded_by_area=excluded_by_area)

    co_codes: list[str] = []
    for _, rule, _ in tied:
        co_codes += rule.co_handlers
    co = _co_handlers(co_codes, lead, ctx, jurisdiction, departmental)
    reason = _won_reason(winner, len(tied))
    candidates.append(Candidate(winner.id, "won", "won", reason))
    for _, rule, _ in tied[1:]:
        candidates.append(Candidate(rule.id, "lost", "tie",
                                    f"与 {winner.id} 同级且主办相同，合并其协办单位"))
    candidates += _outranked(outranked, winner_rank, winner)
    summary = f"规则 {winner.id} 胜出：{reason}；主办 {lead}"
    return Decision(Status.ROUTED, lead, co, winner, tuple(candidates + lost), summary,
                    excluded_by_area=excluded_by_area)


def _is_territorial_unit(code: str, jurisdiction: Jurisdiction) -> bool:
    unit = jurisdiction.units.get(code)
    return unit is not None and unit.is_territorial


def _won_reason(rule: Rule, tied: int) -> str:
    parts = [f"分类 {rule.category}"]
    if rule.area:
        parts.append(f"区域 {rule.area}")
    if rule.condition_count:
        parts.append(f"{rule.condition_count} 个条件")
    if rule.authority:
        parts.append("裁定回写")
    if rule.priority:
        parts.append(f"优先级 {rule.priority}")
    text = "最具体且排序最高（" + "，".join(parts) + "）"
    return text + ("；同级规则主办一致" if tied > 1 else "")


def _outranked(outranked: list[tuple[tuple[float, ...], Rule, str]],
               winner_rank: tuple[float, ...], winner: Rule) -> list[Candidate]:
    result = []
    for r, rule, _ in outranked:
        step = next(_STEP_NAMES[i] for i, (a, b) in enumerate(zip(r, winner_rank, strict=True))
                    if a != b)
        result.append(Candidate(rule.id, "lost", step, _STEP_REASONS[step].format(w=winner.id)))
    return result


def _co_handlers(codes: Sequence[str], lead: str, ctx: TicketContext,
                 jurisdiction: Jurisdiction, departmental: Category | None) -> tuple[str, ...]:
    result: list[str] = []
    for code in codes:
        unit = resolve_role(code, ctx, jurisdiction)
        if unit is None or unit == lead or unit in result:
            continue
        result.append(unit)
    return tuple(result)


def _interim_owner(ctx: TicketContext, jurisdiction: Jurisdiction, settings: Settings,
                   departmental: Category | None) -> str | None:
    if departmental is not None:
        usable = is_usable_default(departmental, jurisdiction.units)
        return (departmental.default_unit if usable else None) or settings.hotline_office
    return resolve_role(TERRITORIAL, ctx, jurisdiction) or settings.hotline_office


def _fallback(ctx: TicketContext, jurisdiction: Jurisdiction, settings: Settings,
              lost: list[Candidate], excluded_by_area: int) -> Decision:
    """The fallback chain (domain.md §4, docs/resolution.md): a departmental matter's
    department (marked default, or derived from a department-led rule; never a territorial
    unit, 国办函〔2025〕66号 §五); else the territorial unit; else the hotline office."""
    head = "无规则适用" if not lost else "候选规则均不适用"
    district = ctx.area_path[-1] if ctx.area_path else None
    chain = departmental_fallback(ctx.category_path, district, jurisdiction)
    refused = ""
    if chain is not None and chain.passed_over:
        refused = f"（默认单位 {'、'.join(chain.passed_over)} 为属地单位，不予采用）"
    if chain is not None and chain.unit is not None:
        category = chain.category
        if chain.step == "category_default":
            why = f"{category.name} 为部门事项{refused}，由其默认单位 {chain.unit} 承办"
        else:
            why = (f"规则 {chain.rule_id} 将 {category.name}（{category.code}）交 {chain.unit} "
                   f"主办，属部门事项{refused}，不得下派属地（{POLICY}），由 {chain.unit} 承办")
        return Decision(Status.FALLBACK, chain.unit, (), None, tuple(lost), f"{head}；{why}",
                        fallback_step=chain.step, excluded_by_area=excluded_by_area)
    if chain is None:
        territorial = resolve_role(TERRITORIAL, ctx, jurisdiction)
        if territorial is not None:
            return Decision(Status.FALLBACK, territorial, (), None, tuple(lost),
                            f"{head}；属地兜底，由属地单位 {territorial} 承办",
                            fallback_step="territorial", excluded_by_area=excluded_by_area)
    why = (f"部门事项未设默认单位{refused}，且不得下派属地" if chain is not None
           else "工单区域无属地单位")
    return Decision(Status.UNROUTED, settings.hotline_office, (), None, tuple(lost),
                    f"{head}；{why}，由热线中心 {settings.hotline_office or '（未设置）'} 持有",
                    fallback_step="hotline_office", excluded_by_area=excluded_by_area)
