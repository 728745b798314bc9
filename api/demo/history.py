"""A few weeks of demo history, made through the real HTTP API in process: routed tickets,
sign-ins, rejected and upheld returns, tickets bouncing between departments and streets
(推诿), the disputes they open, statements, a claim and a ruling written back as a rule —
so the queue, the statistics and the hotspots, ticket and lineage graphs have something true
to show on a fresh demo.

Everything goes through the same endpoints a hotline would call; nothing is written behind
the API's back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI

from jurisdiction.errors import QuanzeError

#: (category, area, text, attributes, what happens)
TICKETS: list[tuple[str, str, str, dict[str, str], str]] = [
    ("030406", "110199001001", "楼里二次供水水箱多年没清洗，水有异味", {}, "bounce"),
    ("040102", "110199002002", "工地每晚十一点后还在施工，噪音很大", {}, "bounce"),
    ("040103", "110199003001", "楼下广场舞音响太大，影响休息", {}, "bounce"),
    ("030807", "110199004001", "地铁口共享单车乱停，堵住盲道", {}, "bounce"),
    ("040104", "110199001002", "饭店后厨排风扇噪声扰民", {"location_type": "commercial"},
     "ambiguous"),
    ("030404", "110199005001", "小区门口供水管线漏水，路面结冰", {}, "return_rejected"),
    ("030104", "110199006001", "村里有人在耕地上盖房", {}, "return_rejected"),
    ("070103", "110199002001", "宽带资费被多收了费用", {}, "normal"),
    ("120401", "110199003002", "咨询新生儿落户需要什么材料", {}, "normal"),
    ("080502", "110199004002", "社区社团活动场地申请", {}, "normal"),
    ("110303", "110199005002", "网购化妆品疑似假货", {}, "normal"),
    ("050304", "110199001003", "路灯坏了一个多月没人修", {}, "normal"),
    ("130804", "110199002003", "网吧接纳未成年人", {}, "normal"),
    ("040102", "110199003003", "夜间渣土车施工扰民", {}, "normal"),
    ("030406", "110199004003", "二次供水水压不足", {}, "normal"),
    ("040103", "110199001004", "邻居装修噪音", {}, "return_rejected"),
    ("030807", "110199005001", "共享单车占用消防通道", {}, "bounce"),
]


class _Client:
    """Calls the app in process (ASGI), as an HTTP client would."""

    def __init__(self, app: FastAPI, key: str) -> None:
        self.app = app
        self.headers = [(b"authorization", f"Bearer {key}".encode()),
                        (b"content-type", b"application/json")]

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        sent: list[Mapping[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: Mapping[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": method, "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "scheme": "http",
                 "server": ("demo", 80), "client": ("demo", 1), "app": self.app,
                 "headers": [*self.headers, (b"content-length", str(len(raw)).encode())]}
        await self.app(scope, receive, send)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        document = json.loads(payload) if payload else None
        if status >= 400:
            raise QuanzeError(f"demo history: {method} {path} → {status}: {document}",
                              code="demo_history_failed")
        return document


def _partner(decision: Mapping[str, Any]) -> str | None:
    """Whom the lead pushes the ticket to: its first co-handler of another kind."""
    lead = decision["lead"]
    for co in decision["co_handlers"]:
        if co["code"] != lead["code"]:
            return str(co["code"])
    return None


async def seed(app: FastAPI, key: str, *, now: datetime) -> dict[str, int]:
    """Make the history; returns counts. ``now`` anchors it in the recent past."""
    client = _Client(app, key)
    start = now - timedelta(days=len(TICKETS) // 2 + 2)
    counts = {"tickets": 0, "disputes": 0, "rulings": 0}
    disputes: list[str] = []
    for n, (category, area, text, attributes, plot) in enumerate(TICKETS):
        at = start + timedelta(hours=12 * n)
        ticket_id = f"DEMO-{at:%Y%m%d}-{n + 1:04d}"

        def t(minutes: int, base: datetime = at) -> str:
            return (base + timedelta(minutes=minutes)).isoformat()

        async def event(minutes: int, body: dict[str, Any], tid: str = ticket_id) -> Any:
            return await client.call("POST", f"/v1/tickets/{tid}/events",
                                     {**body, "at": t(minutes)})

        decision = await client.call("POST", "/v1/route", {
            "ticket_id": ticket_id, "category": category, "area": area, "text": text,
            "attributes": attributes, "as_of": t(0)})
        counts["tickets"] += 1
        if plot == "ambiguous":
            if decision.get("dispute_id"):
                disputes.append(decision["dispute_id"])
            continue
        lead = decision["lead"]["code"]
        await event(2, {"type": "dispatched", "unit": lead})
        partner = _partner(decision)
        if plot == "bounce" and partner:
            await event(30, {"type": "return_requested", "unit": lead,
                             "reason_code": "function_overlap", "proposed_unit": partner,
                             "basis": "本单位仅负责配合，牵头应为职能部门"})
            await event(60, {"type": "return_upheld"})
            await event(65, {"type": "reassigned", "to_unit": partner})
            await event(120, {"type": "return_requested", "unit": partner,
                              "reason_code": "territory_mismatch", "proposed_unit": lead,
                              "basis": "属地管理事项，应由属地先行处置"})
            await event(150, {"type": "return_upheld"})
            state = await event(155, {"type": "reassigned", "to_unit": lead})
            if state.get("dispute_id"):
                disputes.append(state["dispute_id"])
            continue
        if plot == "return_rejected":
            await event(20, {"type": "return_requested", "unit": lead, "reason_code": "other",
                             "basis": "认为不属本单位职责"})
            await event(50, {"type": "return_rejected"})
        await event(55, {"type": "signed", "unit": lead})
        await event(60 * 24, {"type": "completed"})
    counts["disputes"] = len(disputes)
    for n, dispute_id in enumerate(disputes):
        dispute = await client.call("GET", f"/v1/disputes/{dispute_id}")
        parties = [p["code"] if isinstance(p, dict) else p for p in dispute["parties"]]
        for unit in parties:
            await client.call("POST", f"/v1/disputes/{dispute_id}/statements", {
                "unit": unit, "text": "本单位意见：按三定规定不属本单位牵头",
                "basis": "本单位三定规定"})
        if n == 0:  # the first one is claimed and ruled; the rest wait in the queue
            await client.call("POST", f"/v1/disputes/{dispute_id}/claim", {})
            await client.call("POST", f"/v1/disputes/{dispute_id}/ruling", {
                "lead": parties[-1], "co_handlers": parties[:-1],
                "reasoning": "经会商，由职能部门牵头、属地配合，形成长效机制",
                "basis": "区政府专题会议纪要", "document_no": "示政办裁〔2026〕1号",
                "generalize": {"category": dispute["category"], "area": None, "when": {},
                               "text_any": []},
                "retire_rules": []})
            counts["rulings"] += 1
    return counts
