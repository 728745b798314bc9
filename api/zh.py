"""The words staff read (zh-CN): Chinese messages for quanze's errors, labels for request and
form fields, and names for the enumerations shown on pages and in the CLI.

The domain raises :class:`~jurisdiction.errors.QuanzeError` with an English ``message`` for
developers and logs, a stable ``code`` and keyword ``context``. Clerks never read the English:
:func:`message` picks the Chinese sentence for the code, filled from the context.

Each code maps to templates in order of preference; the first whose placeholders are all in
the context is used. A placeholder is ``{key}`` (the value as given), or ``{key:spec}`` where
``spec`` is ``field`` (:func:`field_label`), ``time`` (a date and time in Beijing time) or a
label kind of :data:`LABELS` (``{status:dispute_status}`` → 已裁定).

>>> from jurisdiction.errors import Conflict, NotFound
>>> message(NotFound("unknown unit 'X'", code="unit_not_found", unit_code="X"))
'没有代码为「X」的单位'
>>> message(Conflict("…", code="dispute_claimed", dispute_id="D1", arbiter="王敏"))
'该争议已由 王敏 认领'
>>> message(Conflict("…", code="no_such_code"))
'操作未能完成（错误代码：no_such_code），请联系系统管理员'
>>> field_label("co_handlers[1]")
'协办单位（第2项）'
>>> label("dispute_status", "ruled")
'已裁定'
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from arbitration.disputes import DisputeReason, DisputeStatus
from arbitration.policy import REASON_CODES
from arbitration.tickets import OUT_OF_SCOPE_OUTCOMES, EventType, TicketStatus
from jurisdiction.errors import QuanzeError
from jurisdiction.model import INTAKE_LABELS, AreaLevel, UnitKind

#: Dates and times on pages are Beijing time (issue 10).
BEIJING = ZoneInfo("Asia/Shanghai")
WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")

# ---- enumerations

DISPUTE_STATUS: dict[str, str] = {
    DisputeStatus.OPEN: "待认领", DisputeStatus.UNDER_REVIEW: "审理中",
    DisputeStatus.RULED: "已裁定", DisputeStatus.WITHDRAWN: "已撤回",
}
DISPUTE_REASON: dict[str, str] = {
    DisputeReason.BOUNCE: "反复退单（工单退回原单位）",
    DisputeReason.BOUNCE_CAP: "派单次数超限",
    DisputeReason.AMBIGUOUS: "派单规则冲突",
    DisputeReason.RETURN: "退单异议",
    DisputeReason.MANUAL: "人工发起",
}
TICKET_STATUS: dict[str, str] = {
    TicketStatus.NEW: "待派单", TicketStatus.DISPATCHED: "已派单", TicketStatus.SIGNED: "已签收",
    TicketStatus.RETURN_PENDING: "退单待审", TicketStatus.IN_DISPUTE: "争议中",
    TicketStatus.COMPLETED: "已办结", TicketStatus.CLOSED_OUT_OF_SCOPE: "非受理范围结案",
}
EVENT_TYPE: dict[str, str] = {
    EventType.DISPATCHED: "派单", EventType.SIGNED: "签收",
    EventType.RETURN_REQUESTED: "申请退单", EventType.RETURN_UPHELD: "同意退单",
    EventType.RETURN_REJECTED: "驳回退单", EventType.REASSIGNED: "改派",
    EventType.COMPLETED: "办结", EventType.CLOSED_OUT_OF_SCOPE: "非受理范围结案",
    EventType.DISPUTE_OPENED: "发起争议", EventType.DISPUTE_CLOSED: "争议结束",
}
#: Return reason codes (退单原因): the policy's own table is the source of the words.
RETURN_REASON: dict[str, str] = dict(REASON_CODES)
OUT_OF_SCOPE_OUTCOME: dict[str, str] = dict(OUT_OF_SCOPE_OUTCOMES)
UNIT_KIND: dict[str, str] = {
    UnitKind.DEPARTMENT: "职能部门", UnitKind.TOWNSHIP: "乡镇", UnitKind.STREET: "街道",
    UnitKind.COMMUNITY: "社区（村）", UnitKind.UTILITY: "公共服务企业", UnitKind.OFFICE: "办公室",
}
AREA_LEVEL: dict[str, str] = {
    AreaLevel.DISTRICT: "区", AreaLevel.TOWNSHIP: "街乡", AreaLevel.COMMUNITY: "社区（村）",
    AreaLevel.GRID: "网格",
}
INTAKE: dict[str, str] = {str(k): v for k, v in INTAKE_LABELS.items()}
#: Roles of accounts and API keys (api/auth.py ROLES).
ROLE = {
    "admin": "系统管理员", "editor": "目录编辑", "arbiter": "裁定员", "router": "热线派单",
    "unit": "承办单位", "viewer": "只读",
}
DISPUTE_STAGE = {"open": "待认领", "under_review": "审理中"}
#: Return-window tiers and sign-in urgencies of the default policy (arbitration/policy.py).
TIER = {"standard": "一般事项", "complex": "复杂事项"}
URGENCY = {"danger": "涉及安全", "utility": "水电气热", "standard": "一般"}
SEVERITY = {"error": "错误", "warning": "警告", "info": "提示"}
#: Finding codes of ``quanze verify`` (rules/verification.py).
FINDING = {
    "dangling_reference": "引用了不存在的单位、区域或分类",
    "no_hotline_office": "未设置热线中心",
    "departmental_pushdown": "部门事项被下放给属地",
    "departmental_default_territorial": "部门事项的默认单位为属地",
    "departmental_derived": "由上级收回推定为部门事项",
    "departmental_unmarked": "疑似部门事项但未标注",
    "overlap": "规则重叠（同一工单有多个主办单位）",
    "shadowed": "规则被完全覆盖，永不生效",
    "duplicate_rule": "重复规则",
    "no_territorial_unit": "区域没有属地单位",
    "default_unit_ignored": "默认单位不起作用",
    "departmental_without_default": "部门事项未设默认单位",
    "gap": "派单空白（没有规则覆盖）",
    "conditional_coverage": "仅在特定条件下有规则覆盖",
}
#: Warning codes of a ruling preview (arbitration/rulings.py ruling_warnings).
RULING_WARNING = {
    "no_rule_written": "未推广为规则",
    "fixed_territorial_outside_scope": "固定街乡单位超出其辖区",
}

#: Routing decision statuses (rules/model.py Status).
DECISION_STATUS = {
    "routed": "按规则派单",
    "fallback": "兜底派单",
    "ambiguous": "规则冲突",
    "unrouted": "无人承办",
    "out_of_scope": "不予派单",
}

#: Fallback steps of a decision without a winning rule.
FALLBACK_STEP = {
    "category_default": "分类默认单位",
    "derived_default": "上级分类默认单位",
    "territorial": "属地街乡",
    "hotline_office": "热线中心",
}

#: Where a rule came from.
RULE_SOURCE = {
    "catalog": "派单目录",
    "ruling": "裁定写回",
    "manual": "人工录入",
}

#: Audit log actions.
AUDIT_ACTION = {
    "rule_change": "规则变更",
    "ruleset_version": "规则集新版本",
    "ticket_event": "工单事件",
    "dispute_opened": "争议立案",
    "dispute_statement": "提交陈述",
    "dispute_claimed": "认领争议",
    "dispute_ruled": "争议已裁定",
    "dispute_withdrawn": "争议撤回",
    "dispute_escalated": "争议超期督办",
    "dispute_deadline_revised": "争议期限调整",
    "ruling": "作出裁定",
    "user_created": "创建账号",
    "user_password_reset": "重置密码",
    "user_disabled": "停用账号",
    "account_locked": "账号锁定",
    "signed_in": "登录",
    "signed_out": "退出登录",
    "key_created": "创建接口密钥",
    "key_revoked": "吊销接口密钥",
    "key_rotated": "轮换接口密钥",
    "policy_change": "修改办理规则",
    "privacy_purge": "到期个人信息清理",
}

#: Kinds of object the audit log names (the part before ':').
AUDIT_SUBJECT = {
    "rule": "规则",
    "ruleset": "规则集版本",
    "ticket": "工单",
    "dispute": "争议",
    "ruling": "裁定",
    "user": "账号",
    "key": "接口密钥",
    "policy": "办理规则",
    "changeset": "变更草稿",
}

#: Views of the responsibility graph (api/graphs.py).
GRAPH_VIEW = {
    "unit": "单位职责图",
    "category": "事项主办图",
    "area": "属地与部门图",
    "matrix": "派单矩阵",
    "hotspots": "争议与退单热点",
    "ticket": "工单流转",
    "lineage": "裁定来龙去脉",
}

#: Change set statuses (arbitration/changesets.py).
CHANGE_SET_STATUS = {"draft": "草稿", "published": "已发布", "rejected": "已退回",
                     "superseded": "已被取代"}
#: A routing candidate's fate (rules/resolution.py Candidate: ``outcome``, ``step``).
CANDIDATE_OUTCOME = {"won": "采用", "lost": "未采用"}
CANDIDATE_STEP = {
    "won": "胜出", "tie": "同级并列", "specificity": "特别性", "authority": "权威（裁定优先）",
    "priority": "优先级", "recency": "新旧", "role": "角色不适用", "departmental": "部门事项",
    "validity": "有效期", "category": "事项分类", "area": "区域", "when": "附加条件",
    "text": "关键词", "engine": "规则引擎",
}
#: Why a ruling leaves an open ticket where it is (arbitration/rulings.py Kept.reason).
KEPT_REASON = {"in_dispute": "另有争议处理中", "return_pending": "退单待审",
               "placed_elsewhere": "热线已指定其他单位", "would_open_dispute": "改派将引发新的争议"}
#: Events in a change set's history (arbitration/changesets.py).
CHANGE_SET_EVENT = {"drafted": "起草", "published": "批准发布", "rejected": "退回",
                    "superseded": "被取代"}

#: Every label table by kind, for :func:`label` and the ``{key:kind}`` placeholders.
LABELS: dict[str, Mapping[str, str]] = {
    "dispute_status": DISPUTE_STATUS, "dispute_reason": DISPUTE_REASON,
    "ticket_status": TICKET_STATUS, "event_type": EVENT_TYPE,
    "return_reason": RETURN_REASON, "outcome": OUT_OF_SCOPE_OUTCOME,
    "unit_kind": UNIT_KIND, "area_level": AREA_LEVEL, "intake": INTAKE, "role": ROLE,
    "dispute_stage": DISPUTE_STAGE, "tier": TIER, "urgency": URGENCY, "severity": SEVERITY,
    "finding": FINDING, "ruling_warning": RULING_WARNING,
    "decision_status": DECISION_STATUS, "fallback_step": FALLBACK_STEP,
    "rule_source": RULE_SOURCE, "audit_action": AUDIT_ACTION, "audit_subject": AUDIT_SUBJECT,
    "graph_view": GRAPH_VIEW, "change_set_status": CHANGE_SET_STATUS,
    "candidate_outcome": CANDIDATE_OUTCOME, "candidate_step": CANDIDATE_STEP,
    "kept_reason": KEPT_REASON,
    "change_set_event": CHANGE_SET_EVENT,
}


def label(kind: str, value: str | None) -> str:
    """The Chinese name of ``value`` among the ``kind`` enumeration; the value itself where
    it has none (a code a district added to its policy, say).

    >>> label("role", "arbiter"), label("return_reason", "territory_mismatch")
    ('裁定员', '属地不符')
    >>> label("tier", "urgent_custom")
    'urgent_custom'
    """
    if value is None:
        return ""
    return LABELS[kind].get(str(value), str(value))


# ---- fields

FIELD_LABELS = {
    # ruling form
    "lead": "主办单位", "co_handlers": "协办单位", "reasoning": "裁定理由", "basis": "依据",
    "document_no": "文号", "generalize": "推广范围", "retire_rules": "停用规则",
    "supersedes": "被取代的裁定", "when": "适用条件", "text_any": "关键词",
    "valid_from": "生效时间", "valid_to": "失效时间",
    # disputes and statements
    "text": "陈述内容", "proposed_lead": "建议主办单位", "parties": "当事单位",
    "reason": "争议原因", "arbiter": "裁定员", "dispute_id": "争议编号", "status": "状态",
    "stage": "争议阶段",
    # tickets and their events
    "ticket_id": "工单编号", "tickets": "工单", "type": "事件类型", "at": "发生时间",
    "unit": "单位", "to_unit": "改派单位", "reason_code": "退单原因", "proposed_unit": "建议单位",
    "note": "备注", "tier": "时限档次", "urgency": "紧急程度", "outcome": "结案方式",
    "attributes": "工单属性", "Idempotency-Key": "幂等键",
    # catalogue
    "category": "事项分类", "area": "区域", "district": "区", "code": "代码", "name": "名称",
    "kind": "单位类型", "level": "区域层级", "parent": "上级", "departmental": "部门事项",
    "default_unit": "默认单位", "priority": "优先级", "source": "来源", "id": "编号",
    "rules": "规则", "units": "单位", "areas": "区域", "categories": "事项分类",
    "settings": "设置", "hotline_office": "热线中心", "timezone": "时区", "tz": "时区",
    "mode": "导入方式", "as_of": "查询时点",
    # policy
    "reason_codes": "退单原因", "return_windows": "退单时限", "default_tier": "默认时限档次",
    "sign_in_windows": "签收时限", "default_urgency": "默认紧急程度",
    "bounce_cap": "派单次数上限", "dispute_deadlines": "争议处理时限",
    "interim_order": "临时承办顺序", "calendar": "工作日历", "holidays": "节假日",
    "years": "年份", "minutes": "分钟数", "working_days": "工作日", "n": "工作日数",
    # graphs and statistics
    "view": "视图", "focus": "查看对象", "format": "格式", "unit_kind": "单位类型",
    "start": "开始时间", "end": "结束时间", "from": "开始时间", "to": "结束时间",
    "after": "翻页位置", "limit": "每页条数",
    # accounts and keys
    "login": "用户名", "password": "密码", "role": "角色", "expires": "有效期至",
    "title": "标题", "body": "提交内容", "content-type": "文件类型",
    "expires_at": "有效期至", "days": "有效天数",
}
_INDEX = re.compile(r"^(?P<name>[^\[\]]*)\[(?P<i>\d+)\]$")


def field_label(field: str | None) -> str:
    """The Chinese label of a request or form field; a dotted or indexed path names each step.

    >>> field_label("document_no"), field_label("generalize.category")
    ('文号', '推广范围的事项分类')
    >>> field_label("co_handlers.1"), field_label("return_windows.complex")
    ('协办单位（第2项）', '退单时限的复杂事项')
    >>> field_label(None), field_label("zz_custom")
    ('', 'zz_custom')
    """
    if not field:
        return ""
    parts: list[str] = []
    for step in field.split("."):
        m = _INDEX.match(step)
        if m is not None:
            parts.append(_step(m["name"]) + f"（第{int(m['i']) + 1}项）")
        elif step.isdigit() and parts:
            parts[-1] += f"（第{int(step) + 1}项）"
        else:
            parts.append(_step(step))
    return "的".join(p for p in parts if p)


def _step(name: str) -> str:
    for table in (FIELD_LABELS, TIER, URGENCY, DISPUTE_STAGE):
        if name in table:
            return table[name]
    return name


# ---- messages

#: code → templates, most specific first (see the module docstring).
MESSAGES: dict[str, tuple[str, ...]] = {
    # base classes (errors raised without a code of their own)
    "error": ("操作未能完成，请联系系统管理员",),
    "not_found": ("未找到所请求的内容",),
    "invalid_input": ("「{field:field}」填写有误，请核对后重新提交", "输入有误，请核对后重新提交"),
    "bundle_invalid": ("导入内容有 {count} 处问题，未写入任何数据", "导入内容有误，未写入任何数据"),
    "conflict": ("与现有数据冲突，请刷新后核对重试",),
    "too_large": ("「{field:field}」超出大小上限", "提交的内容超出大小上限"),
    "unauthorized": ("请先登录，或提供有效的访问密钥",),
    "forbidden": (
        "「{role:role}」角色无权执行此操作",
        "您只能以本单位名义办理，无权执行此操作",
        "您没有执行此操作的权限",
    ),
    "engine_error": ("规则引擎出错，请联系系统管理员",),
    "engine_refused": ("规则引擎拒绝加载本次变更，变更未生效，请联系系统管理员",),
    "engine_failed": ("规则引擎处理工单时出错，请联系系统管理员",),
    "engine_no_servable_version": (
        "当前没有可以使用的派单规则版本（第 {version} 版及以前各版均无法加载），请联系系统管理员",
        "当前没有可以使用的派单规则版本，请联系系统管理员",
    ),
    "shard_too_large": (
        "规则过于复杂，超出规则引擎的处理上限（{limit}），请拆分或合并相关规则后重试",
        "规则过于复杂，超出规则引擎的处理上限，请拆分或合并相关规则后重试",
    ),
    "unavailable": ("服务暂时不可用，请稍后重试",),
    "database_unavailable": ("数据库暂时无法响应，请稍后重试",),
    "graphviz_unavailable": ("服务器暂时无法绘制图形，请联系系统管理员；图谱数据仍可导出",),
    "view_not_available": (
        "「{view}」视图需要连接数据库，当前无法提供",
        "该视图需要连接数据库，当前无法提供",
    ),
    "demo_history_failed": ("演示数据的历史记录生成失败，请联系系统管理员",),
    # not found
    "unit_not_found": ("没有代码为「{unit_code}」的单位", "所填单位不存在"),
    "area_not_found": ("没有代码为「{area_code}」的区域", "所填区域不存在"),
    "category_not_found": ("没有代码为「{category_code}」的事项分类", "所填事项分类不存在"),
    "rule_not_found": ("没有编号为「{rule_id}」的规则", "所填规则不存在"),
    "decision_not_found": ("没有编号为「{decision_id}」的派单决定",),
    "dispute_not_found": ("没有编号为「{dispute_id}」的争议",),
    "ticket_not_found": ("没有编号为「{ticket_id}」的工单",),
    "ruling_not_found": ("没有编号为「{ruling_id}」的裁定",),
    "key_not_found": ("没有编号为「{key_id}」的访问密钥",),
    "ruleset_version_not_found": ("没有第 {version} 版派单规则",),
    "audit_key_not_found": ("未找到审计签名密钥文件「{path}」", "未找到审计签名密钥文件"),
    "unknown_unit": ("没有代码为「{value}」的单位", "所填单位不存在"),
    "unknown_area": (
        "没有代码为「{value}」的区域",
        "没有代码为「{area_code}」的区域",
        "所填区域不存在",
    ),
    "unknown_category": ("没有代码为「{value}」的事项分类", "所填事项分类不存在"),
    "unknown_rule": ("没有编号为「{value}」的规则", "所填规则不存在"),
    "unknown_ruling": ("没有编号为「{value}」的裁定", "所填裁定不存在"),
    "unknown_ticket": ("没有编号为「{ticket_id}」的工单", "所填工单不存在"),
    "unknown_district": ("所选区域不是区级区域",),
    "unknown_focus": ("找不到要查看的对象，请重新选择",),
    "unknown_view": ("不支持该图谱视图，请重新选择",),
    "unit_exists": ("代码为「{code_value}」的单位已存在", "该单位已存在"),
    "area_exists": ("代码为「{code_value}」的区域已存在", "该区域已存在"),
    "category_exists": ("代码为「{code_value}」的事项分类已存在", "该事项分类已存在"),
    "rule_exists": ("编号为「{rule_id}」的规则已存在，请修改原规则", "该规则已存在，请修改原规则"),
    "area_cycle": (
        "区域的上下级关系出现循环（在「{area_code}」处），请核对上级区域",
        "区域的上下级关系出现循环，请核对上级区域",
    ),
    "category_cycle": (
        "事项分类的上下级关系出现循环（在「{category_code}」处），请核对上级分类",
        "事项分类的上下级关系出现循环，请核对上级分类",
    ),
    # disputes and rulings
    "conflict_of_interest": ("您所在单位是本争议当事方，应当回避",),
    "dispute_claimed": ("该争议已由 {arbiter} 认领", "该争议已由其他裁定员认领"),
    "dispute_not_claimed": ("请先认领该争议，再作出裁定",),
    "dispute_closed": (
        "该争议{status:dispute_status}，不得再作处理",
        "该争议已经结束，不得再作处理",
    ),
    "dispute_conflict": ("该争议刚被他人修改，请刷新页面后重试",),
    "dispute_already_open": (
        "该工单已有未结争议（{dispute_id}），不得重复发起",
        "该工单已有未结争议，不得重复发起",
    ),
    "dispute_mismatch": (
        "该工单所涉争议为「{dispute_id}」，与所填争议不符",
        "所填争议与该工单不符",
    ),
    "invalid_arbiter": ("认领争议须指明裁定员",),
    "invalid_parties": ("争议至少应有一个当事单位",),
    "invalid_reason": ("不支持的争议原因「{reason}」", "争议原因无效"),
    "invalid_statement": ("陈述内容不得为空",),
    "invalid_status": ("争议只能以“已裁定”或“已撤回”结束", "争议状态无效，请重新选择"),
    "invalid_stage": ("争议阶段「{stage}」没有处理时限", "争议阶段无效"),
    "not_a_party": (
        "单位「{unit}」不是本争议的当事方，不得提交陈述",
        "非本争议当事方，不得提交陈述",
    ),
    "invalid_request": ("本裁定未填写推广范围，无法生成派单规则",),
    "ruling_plan_changed": (
        "裁定的影响与预览时不同（期间数据已有变化），请重新预览影响后再确认裁定",
    ),
    "ruling_race": ("该争议已由他人作出裁定，请刷新页面查看",),
    "ruling_superseded": ("裁定「{ruling_id}」已被裁定「{superseded_by}」取代", "该裁定已被取代"),
    "ruleset_conflict": ("派单目录在此期间已被修改，请刷新后重试",),
    "ruleset_digest_mismatch": (
        "第 {version} 版派单规则在提交后被改动（内容校验不符），已停止使用；请启用更早的版本",
        "当前派单规则在提交后被改动（内容校验不符），已停止使用；请启用更早的版本",
    ),
    "confirm_required": (
        "本次导入将停用现行 {live} 条规则中的 {retiring} 条；如确属本意，请确认后重新导入（可先试"
        "运行查看差异）",
        "本次导入将停用大量现行规则；如确属本意，请确认后重新导入",
    ),
    # tickets
    "already_owner": ("工单已由「{unit}」承办，无需再次派给该单位", "工单已由该单位承办"),
    "already_signed": (
        "「{unit}」已于{signed_at:time}签收该工单，不得重复签收",
        "该工单已签收，不得重复签收",
    ),
    "not_dispatched": ("该工单尚未派给任何单位，不能签收或退单",),
    "not_owner": (
        "只有当前承办单位「{owner}」可以办理此项操作",
        "只有当前承办单位可以办理此项操作",
    ),
    "return_pending": (
        "「{unit}」的退单申请正在审核，请先同意或驳回该申请",
        "该工单有退单申请正在审核，请先同意或驳回该申请",
    ),
    "return_window_passed": (
        "退单时限已于{deadline:time}届满，该工单视为「{unit}」已接收，不得退单",
        "退单时限已于{deadline:time}届满，该工单视为已接收，不得退单",
        "退单时限已届满，该工单视为已接收，不得退单",
    ),
    "ticket_accepted": ("「{unit}」已接收该工单，不得退单", "该工单已被接收，不得退单"),
    "ticket_in_dispute": (
        "该工单正处于争议中，请通过提交陈述表明意见",
        "该工单正处于争议中，请先裁定或撤回争议，再结案",
    ),
    "ticket_completed": (
        "该工单已办结，不得再登记“{type:event_type}”",
        "该工单已办结，不得再登记事件",
    ),
    "ticket_closed": (
        "该工单已作为非受理范围结案（{outcome:outcome}），不得再登记“{type:event_type}”",
        "该工单已作为非受理范围结案，不得再登记事件",
    ),
    "ticket_conflict": ("该工单刚被他人修改，请刷新页面后重试",),
    "no_pending_return": ("该工单没有待审核的退单申请",),
    "no_interim_owner": ("争议中的工单须有临时承办单位：请指定一个单位，或交由属地单位临时承办",),
    "no_hotline_office": ("派单目录未设置热线中心，任何单位均不得将工单作为非受理范围结案",),
    "not_hotline_office": (
        "只有热线中心「{hotline_office}」可以将工单作为非受理范围结案",
        "只有热线中心可以将工单作为非受理范围结案",
    ),
    "event_in_future": ("事件时间晚于当前时间，不得登记尚未发生的事件",),
    "event_out_of_order": (
        "事件时间早于该工单上一次事件（{at:time}之前），请按时间顺序登记",
        "事件时间早于该工单上一次事件，请按时间顺序登记",
    ),
    "invalid_event": ("事件的「{field:field}」填写有误", "事件信息填写有误"),
    "invalid_event_type": ("不支持的事件类型「{type}」", "事件类型无效"),
    "invalid_outcome": (
        "不支持的结案方式「{outcome}」，应为告知、终止办理或转其他渠道",
        "结案方式无效，应为告知、终止办理或转其他渠道",
    ),
    "invalid_reason_code": (
        "退单原因「{reason_code}」不在规定的退单原因之列",
        "请选择规定的退单原因",
    ),
    "invalid_tier": ("不支持的时限档次「{tier}」", "时限档次无效"),
    "invalid_urgency": ("不支持的紧急程度「{urgency}」", "紧急程度无效"),
    "idempotency_key_reused": ("该幂等键已用于另一项请求，请更换后重试",),
    "invalid_idempotency_key": ("幂等键长度应为 1 至 150 个字符",),
    "attributes_too_large": ("工单属性不得超过 {limit} 项", "工单属性过多"),
    "text_too_large": ("诉求内容不得超过 {limit} 个字符", "诉求内容过长"),
    "batch_too_large": ("每批最多提交 {limit} 张工单", "每批提交的工单过多"),
    # catalogue, import and graphs
    "body_too_large": ("上传的内容超过大小上限（{limit} 字节）", "上传的内容超过大小上限"),
    "code_mismatch": ("提交内容中的代码与所编辑对象的代码不一致",),
    "invalid_json": ("上传的内容不是有效的数据文件（格式错误或嵌套过深）",),
    "invalid_mode": ("导入方式只能是“合并”或“替换”",),
    "invalid_value": ("「{field:field}」的取值无效", "取值无效"),
    "invalid_file": ("文件无法读取或类型不受支持：责任清单应为电子表格或逗号分隔的文本文件",),
    "invalid_format": ("不支持的格式「{format}」", "所选格式不受支持"),
    "invalid_unit_kind": ("单位类型无效，请重新选择",),
    "invalid_area_level": (
        "区域「{area_code}」不是区级区域",
        "区域「{area_code}」是区级区域：区域视图只显示一个街乡，查看全区请使用矩阵视图",
    ),
    "missing_focus": ("该视图须指定查看对象",),
    "graph_too_large": (
        "图谱过大（{node_count} 个节点，上限 {max_nodes} 个），请添加筛选条件缩小范围",
        "图谱过大（{cell_count} 个单元格，上限 {max_cells} 个），请按事项分类筛选缩小范围",
        "图谱绘制超时，请添加筛选条件缩小范围",
    ),
    "invalid_timezone": ("无法识别的时区「{tz}」", "无法识别的时区"),
    "invalid_minutes": ("分钟数「{value}」无效，应为不小于零的数字", "分钟数无效"),
    "invalid_working_days": ("工作日数「{value}」无效，应为不小于零的数字", "工作日数无效"),
    "invalid_policy": (
        "时限政策中「{field:field}」的取值「{value}」无效",
        "时限政策中「{field:field}」的取值无效",
        "时限政策填写有误",
    ),
    "policy_conflict": ("时限政策刚被他人修改，请刷新后重试",),
    "invalid_period": (
        "统计期间的「{field:field}」填写有误：应为有效日期，且结束时间晚于开始时间",
        "统计期间填写有误",
    ),
    "period_too_long": ("统计期间过长：每周趋势最多统计 {max_weeks} 周，请缩短期间",
                        "统计期间过长，请缩短期间"),
    "invalid_cursor": ("翻页参数无效，请从第一页重新查询",),
    "invalid_limit": ("每页条数超出允许范围",),
    # accounts, keys and audit
    "invalid_role": ("角色无效，应为系统管理员、目录编辑、裁定员、热线派单、承办单位或只读之一",),
    "unit_required": ("承办单位角色须指定所属单位",),
    # change sets (arbitration/changesets.py)
    "change_set_not_found": ("没有编号为「{change_set_id}」的变更草稿", "没有这个变更草稿"),
    "change_set_not_draft": (
        "变更草稿「{change_set_id}」已{status:change_set_status}，不能再审核",
        "变更草稿「{change_set_id}」已由他人审核，请刷新后查看",
    ),
    "change_set_stale": (
        "草稿起草后，规则 {rule_ids} 已有变动，请在现行目录上重新起草",
        "该变更草稿已不适用于现行派单目录，请重新起草",
    ),
    "own_change_set": ("变更须由起草人以外的另一人审核发布（四眼原则）",),
    "empty_change_set": ("该草稿与现行派单目录相同，没有任何变更",),
    "duplicate_rule": ("同一规则在草稿中出现了两次",),
    "invalid_body": ("提交内容应包含标题、规则和拟废止规则",),
    "too_many": ("「{field:field}」条目过多", "条目过多"),
    # staff accounts and sign-in (api/staff.py, api/pages)
    "sign_in_failed": ("用户名或密码错误",),
    "account_locked": (
        "该账号因连续输错密码已被锁定，请于 {until:time} 后再试，或请系统管理员重置密码",
        "该账号因连续输错密码已被锁定，请稍后再试，或请系统管理员重置密码",
    ),
    "account_disabled": ("该账号已停用，请联系系统管理员",),
    "csrf_failed": ("页面已失效（安全校验未通过），请刷新页面后重新提交",),
    "weak_password": ("密码至少 10 位，且须同时包含字母和数字",),
    "password_mismatch": ("两次输入的密码不一致",),
    "invalid_login": ("用户名须为 2–64 位字母、数字、点、下划线或连字符，并以字母开头",),
    "invalid_name": ("姓名须为 1–200 个字符",),
    "login_taken": ("用户名「{login}」已被占用",),
    "user_not_found": ("没有用户名为「{login}」的账号", "没有这个账号"),
    "invalid_expiry": ("有效期填写有误：请填写将来的日期或 1 至 3660 天，二者只填其一",),
    "key_expired": ("该访问密钥已过期，请创建新的密钥",),
    "key_revoked": (
        "访问密钥「{key_id}」已被吊销，请创建新的密钥",
        "该访问密钥已被吊销，请创建新的密钥",
    ),
    "invalid_audit_key": ("文件「{path}」不是有效的审计签名密钥", "审计签名密钥无效"),
    "audit_chain_broken": (
        "审计日志的哈希链已断裂（发现 {problems} 处问题），不能设置检查点，请先核查审计日志",
        "审计日志的哈希链已断裂，不能设置检查点，请先核查审计日志",
    ),
    # problems of a bundle or duty list (each also carries its own located message)
    "missing": ("「{field:field}」为必填项", "缺少必填项"),
    "required": ("「{field:field}」为必填项", "缺少必填项"),
    "invalid_type": ("「{field:field}」的类型不正确", "类型不正确"),
    "too_long": ("「{field:field}」内容过长", "内容过长"),
    "unknown_field": ("不支持的字段「{field}」", "不支持的字段"),
    "duplicate": ("编码或设置重复，每项只能出现一次",),
    "duplicate_column": ("表头重复：每列只能出现一次",),
    "duplicate_id": ("规则编号重复",),
    "invalid_code": ("编码格式不正确",),
    "invalid_id": ("规则编号格式不正确",),
    "invalid_condition": ("条件格式不正确",),
    "invalid_date": ("日期格式不正确",),
    "invalid_duty_type": ("乡镇职责类型只能填写基本、配合、收回或留空",),
    "invalid_encoding": ("无法识别文件的字符编码，请另存为通用编码后重新导入",),
    "invalid_priority": ("优先级应为整数（数值越大越优先，留空为零）",),
    "invalid_range": ("失效日期应晚于生效日期",),
    "missing_column": ("缺少必填列",),
    "missing_sheet": ("缺少规则工作表",),
    "name_too_deep": ("分类名称的层级深于事项编码，请留空或使用更长的编码",),
    "policy_violation": ("不符合职责划分规定：部门牵头的事项不得以属地为牵头或配合单位",),
    "unknown_column": ("表头不是模板中的列",),
    "unnamed_column": ("有数据的列缺少表头",),
}

#: Context keys whose value is never replaced by a name (a field path, an enumeration value).
_KEEP_CODES = frozenset({"field", "status", "type", "outcome", "role", "tier", "urgency",
                         "stage", "reason", "reason_code", "deadline", "signed_at", "at"})

FALLBACK = "操作未能完成（错误代码：{code}），请联系系统管理员"


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec == "field":
            return field_label(str(value))
        if format_spec == "time":
            return format_time(value)
        if format_spec in LABELS:
            return label(format_spec, str(value))
        return _text(value)


_FORMATTER = _Formatter()


def _text(value: Any) -> str:
    if isinstance(value, list | tuple | set | frozenset):
        return "、".join(_text(v) for v in value)
    return str(value)


def _fields(template: str) -> list[str]:
    return [name for _, name, _, _ in _FORMATTER.parse(template) if name]


def message(exc: QuanzeError, *, names: Mapping[str, str] | None = None) -> str:
    """The Chinese sentence for ``exc``: its code's first template that the context can fill,
    or a generic sentence naming the code (never the English ``message``). ``names`` (code →
    name, e.g. of the matrix's units) shows a unit's name where the context holds its code.

    >>> from jurisdiction.errors import Conflict
    >>> err = Conflict("…", code="not_owner", unit="JD-HP", owner="D-CG")
    >>> message(err, names={"D-CG": "区城管委"})
    '只有当前承办单位「区城管委」可以办理此项操作'
    """
    return message_for(exc.code, exc.context, names=names)


def message_for(code: str, context: Mapping[str, Any] | None = None, *,
                names: Mapping[str, str] | None = None) -> str:
    """:func:`message` for a code and its context, e.g. a problem+json body's."""
    ctx = {k: v for k, v in (context or {}).items() if v is not None and v != ""}
    if names:
        ctx = {k: names.get(v, v) if isinstance(v, str) and k not in _KEEP_CODES else v
               for k, v in ctx.items()}
    for template in MESSAGES.get(code, ()):
        if all(name in ctx for name in _fields(template)):
            return _FORMATTER.vformat(template, (), ctx)
    return FALLBACK.format(code=code)


def format_time(value: datetime | date | str) -> str:
    """A moment as staff read it, in Beijing time: ``2026年12月1日 星期二 17:00``; a date without
    the time. A string that is no ISO 8601 time is shown as it is.

    >>> format_time("2026-12-01T09:00:00+00:00")
    '2026年12月1日 星期二 17:00'
    >>> format_time(date(2026, 12, 1))
    '2026年12月1日 星期二'
    """
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return format_time(moment)
    if isinstance(value, datetime):
        local = value.astimezone(BEIJING) if value.tzinfo is not None else value
        return f"{_date(local.date())} {local:%H:%M}"
    return _date(value)


def _date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日 {WEEKDAYS[d.weekday()]}"


def codes() -> Sequence[str]:
    """Every code with a Chinese message."""
    return sorted(MESSAGES)
