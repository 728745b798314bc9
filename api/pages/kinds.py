"""Chinese names for the values the read-only pages show (派单目录, 责任图谱, 统计, 审计日志).

:func:`name_of` asks :func:`api.pages.web.label` for the kinds ``api.zh`` knows; the kinds
it lacks are named here, so a clerk never reads a raw code. Once ``api.zh`` carries these
kinds, the tables can move there."""

from __future__ import annotations

from api import zh
from api.pages.web import label

LOCAL: dict[str, dict[str, str]] = {
    "decision_status": {"routed": "按规则派单", "fallback": "兜底派单", "ambiguous": "规则冲突",
                        "unrouted": "无人承办", "out_of_scope": "不予派单"},
    "fallback_step": {"category_default": "分类默认单位", "derived_default": "上级分类默认单位",
                      "territorial": "属地街乡", "hotline_office": "热线中心"},
    "rule_source": {"catalog": "派单目录", "ruling": "裁定写回", "manual": "人工录入"},
    "audit_action": {"rule_change": "规则变更", "ruleset_version": "规则集新版本",
                     "ticket_event": "工单事件", "dispute_opened": "争议立案",
                     "dispute_statement": "提交陈述", "dispute_claimed": "认领争议",
                     "dispute_ruled": "争议已裁定", "dispute_withdrawn": "争议撤回",
                     "dispute_escalated": "争议超期督办",
                     "dispute_deadline_revised": "争议期限调整", "ruling": "作出裁定",
                     "user_created": "创建账号", "user_password_reset": "重置密码",
                     "user_disabled": "停用账号", "account_locked": "账号锁定",
                     "signed_in": "登录", "signed_out": "退出登录",
                     "key_created": "创建接口密钥", "key_revoked": "吊销接口密钥",
                     "key_rotated": "轮换接口密钥", "policy_change": "修改办理规则",
                     "privacy_purge": "到期个人信息清理"},
    "audit_subject": {"rule": "规则", "ruleset": "规则集版本", "ticket": "工单",
                      "dispute": "争议", "ruling": "裁定", "user": "账号", "key": "接口密钥",
                      "policy": "办理规则", "changeset": "变更草稿"},
    "graph_view": {"unit": "单位职责图", "category": "事项主办图", "area": "属地与部门图",
                   "matrix": "派单矩阵", "hotspots": "争议与退单热点", "ticket": "工单流转",
                   "lineage": "裁定来龙去脉"},
}


def name_of(kind: str, value: str | None) -> str:
    """The Chinese name of ``value`` of ``kind``: api.zh's, else this module's, else the
    value itself.

    >>> name_of("decision_status", "fallback")
    '兜底派单'
    """
    if value is None:
        return "—"
    if kind in zh.LABELS:
        return label(kind, value)
    return LOCAL.get(kind, {}).get(value, value)
