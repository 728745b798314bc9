"""The plain-Python reader of the rule condition language.

The same conditions are compiled for durable_rules by :mod:`rules.compiler`; this evaluator
serves verification, impact previews, replay and explanations. A property test holds the two
readers to the same answers.

>>> from datetime import datetime, timezone
>>> from rules.model import Rule, Ticket
>>> t = Ticket(category="030101", area="110199001001",
...            as_of=datetime(2026, 5, 1, tzinfo=timezone.utc),
...            attributes={"location_type": "public_road"}, text="路边私搭乱建")
>>> ctx = TicketContext(t, ("030101", "0301", "03"), ("110199001001", "110199001", "110199"))
>>> mismatch(Rule(id="R", category="0301", lead="X", basis="b", text_any=("私搭",)), ctx) is None
True
>>> mismatch(Rule(id="R", category="0302", lead="X", basis="b"), ctx)[0]
'category'
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.model import Rule, Ticket, canon_value, plain_text


@dataclass(frozen=True, slots=True)
class TicketContext:
    """A ticket with its category and area paths (nearest first) worked out once."""

    ticket: Ticket
    category_path: tuple[str, ...]
    area_path: tuple[str, ...]


def mismatch(rule: Rule, ctx: TicketContext) -> tuple[str, str] | None:
    """Why ``rule`` does not match the ticket, as ``(step, reason)``; None when it matches.

    The checks run in a fixed order (category, area, when, text, validity) so the reason
    given is always the first one that fails.
    """
    ticket = ctx.ticket
    if rule.category not in ctx.category_path:
        return "category", f"分类 {rule.category} 不是工单分类 {ticket.category} 或其上级"
    if rule.area is not None and rule.area not in ctx.area_path:
        where = ticket.area or "（未提供区域）"
        return "area", f"适用区域 {rule.area} 不包含工单区域 {where}"
    for key, allowed in rule.when.items():
        value = ticket.attributes.get(key)
        if value is None or plain_text(canon_value(value)) not in allowed:
            shown = "未提供" if value is None else repr(value)
            return "when", f"条件 {key} 须为 {'/'.join(allowed)}，工单为 {shown}"
    if not has_keyword(rule, ticket.text):
        return "text", f"工单内容不含关键词 {'、'.join(rule.text_any)}"
    if not rule.is_valid_at(ticket.as_of):
        return "validity", f"在 {ticket.as_of.isoformat()} 不在有效期内"
    return None


def has_keyword(rule: Rule, text: str) -> bool:
    """The ``text_any`` condition: no keywords, or the text contains one of them.

    This one test is not given to the rule engine: durable_rules' regular expressions cost
    ~20 ms and ~30 MB per shard to build and leak on deletion (docs/performance.md), so the
    engine's matches are filtered with it instead (:meth:`rules.service.Router.decide`).
    """
    if not rule.text_any:
        return True
    plain = plain_text(text)
    return any(word in plain for word in rule.text_any)


def matches(rule: Rule, ctx: TicketContext) -> bool:
    return mismatch(rule, ctx) is None
