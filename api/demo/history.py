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

#: (level-2 name, leaf name, area, text, attributes, what happens); categories are named,
#: not coded, so a rebuilt district cannot shift a ticket into the wrong class
TICKETS: list[tuple[str, str, str, str, dict[str, str], str]] = [
    ("供水", "二次供水", "110199001001", "楼里二次供水水箱多年没清洗，水有异味", {}, "bounce"),
    ("噪声", "夜间施工", "110199002002", "工地每晚十一点后还在施工，噪音很大", {}, "bounce"),
    ("噪声", "广场舞噪声", "110199003001", "楼下广场舞音响太大，影响休息", {}, "bounce"),
    ("市容环境", "共享单车乱停放", "110199004001", "地铁口共享单车乱停，堵住盲道", {}, "bounce"),
    ("噪声", "商业经营噪声", "110199001002", "饭店后厨排风扇噪声扰民",
     {"location_type": "commercial"}, "ambiguous"),
    ("供水", "供水管线漏水", "110199005001", "小区门口供水管线漏水，路面结冰", {},
     "return_rejected"),
    ("违法建设", "农村违法建房", "110199009001", "村里有人在耕地上盖房", {}, "return_rejected"),
    ("电信", "电信资费", "110199002001", "宽带资费被多收了费用", {}, "normal"),
    ("户籍证件", "户籍管理", "110199003002", "咨询新生儿落户需要什么材料", {}, "normal"),
    ("民间组织", "社团管理", "110199004002", "社区社团活动场地申请", {}, "normal"),
    ("食品药品监管", "保健品化妆品管理", "110199005002", "网购化妆品疑似假货", {}, "normal"),
    ("城市建设和市政管理", "路灯照明", "110199001003", "路灯坏了一个多月没人修", {}, "normal"),
    ("文化", "文化市场与文化执法", "110199002003", "网吧接纳未成年人", {}, "normal"),
    ("噪声", "夜间施工", "110199003003", "夜间渣土车施工扰民", {}, "normal"),
    ("供水", "水压不足", "110199004003", "二次供水水压不足", {}, "normal"),
    ("噪声", "社会生活噪声", "110199001004", "邻居装修噪音", {}, "return_rejected"),
    ("市容环境", "共享单车乱停放", "110199005001", "共享单车占用消防通道", {}, "bounce"),
]

#: The showcase ruling (示政办裁〔2026〕1号) on the 二次供水 dispute: the water company and the
#: health commission each returned the smelly-tank ticket to the other. The district rules
#: by the matter's nature, for every street: water-quality complaints about secondary supply
#: are led by the health commission (卫生监督), the supplier cleans, and the street of the
#: ticket's area -- ``@territorial``, never a fixed street -- urges the owners on.
SHOWCASE = ("供水", "二次供水")
SHOWCASE_RULING: dict[str, Any] = {
    "lead": "D-WJ", "co_handlers": ["U-WATER", "@territorial"],
    "reasoning": "经会商：二次供水水质、异味等卫生问题由区卫生健康委（卫生监督所）"
                 "牵头检测并督促整改，供水企业负责水箱清洗消毒，属地街道（乡镇）配合督促产权单位",
    "basis": "《生活饮用水卫生监督管理办法》；示范区二次供水问题专题会商纪要",
    "document_no": "示政办裁〔2026〕1号",
    "generalize": {"area": None, "when": {}, "text_any": ["水质", "异味", "水箱清洗", "浑浊"]},
    "retire_rules": [],
}

_TERRITORIAL_KINDS = {"street", "township", "community"}


def _return(unit_kind: str, to_kind: str, to_name: str) -> dict[str, str]:
    """What a unit says when it returns a ticket it thinks is not its own (退单)."""
    if unit_kind in _TERRITORIAL_KINDS:
        basis = f"按《示范区街道配合履职事项清单》，本事项由{to_name}牵头，街道仅负责配合"
    elif to_kind in _TERRITORIAL_KINDS:
        basis = "属地管理事项，应由属地街道（乡镇）先行处置"
    elif unit_kind == "utility":
        basis = f"不属本公司服务事项范围，应由{to_name}牵头"
    else:
        basis = f"不属本单位三定职责，应由{to_name}牵头"
    return {"reason_code": "function_overlap", "basis": basis}


def _statement(kind: str) -> dict[str, str]:
    if kind in _TERRITORIAL_KINDS:
        return {"text": "本街道意见：按配合履职清单，本事项由职能部门牵头，街道配合",
                "basis": "《示范区街道配合履职事项清单》"}
    if kind == "utility":
        return {"text": "本公司意见：按公用事业服务事项清单，本事项不属本公司牵头",
                "basis": "《示范区公用事业单位服务事项清单》"}
    return {"text": "本单位意见：按三定规定不属本单位牵头", "basis": "本单位三定规定"}


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


def _partner(decision: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Whom the lead pushes the ticket to: its first co-handler."""
    lead = decision["lead"]
    co: Mapping[str, Any]
    for co in decision["co_handlers"]:
        if co["code"] != lead["code"]:
            return co
    return None


async def seed(app: FastAPI, key: str, *, now: datetime) -> dict[str, int]:
    """Make the history; returns counts. ``now`` anchors it in the recent past."""
    client = _Client(app, key)
    categories = (await client.call("GET", "/v1/categories"))["items"]
    by_name = {(c["name"], c["parent"]): c["code"] for c in categories}
    level2 = {c["name"]: c["code"] for c in categories if c["depth"] == 2}

    def category(l2_name: str, leaf: str) -> str:
        return str(by_name[(leaf, level2[l2_name])])

    start = now - timedelta(days=len(TICKETS) // 2 + 2)
    counts = {"tickets": 0, "disputes": 0, "rulings": 0}
    disputes: list[tuple[str, str]] = []  # (dispute id, category)
    for n, (l2_name, leaf, area, text, attributes, plot) in enumerate(TICKETS):
        at = start + timedelta(hours=12 * n)
        ticket_id = f"DEMO-{at:%Y%m%d}-{n + 1:04d}"
        code = category(l2_name, leaf)

        def t(minutes: int, base: datetime = at) -> str:
            return (base + timedelta(minutes=minutes)).isoformat()

        async def event(minutes: int, body: dict[str, Any], tid: str = ticket_id) -> Any:
            return await client.call("POST", f"/v1/tickets/{tid}/events",
                                     {**body, "at": t(minutes)})

        decision = await client.call("POST", "/v1/route", {
            "ticket_id": ticket_id, "category": code, "area": area, "text": text,
            "attributes": attributes, "as_of": t(0)})
        counts["tickets"] += 1
        if plot == "ambiguous":
            if decision.get("dispute_id"):
                disputes.append((decision["dispute_id"], code))
            continue
        lead = decision["lead"]
        await event(2, {"type": "dispatched", "unit": lead["code"]})
        partner = _partner(decision)
        if plot == "bounce" and partner:
            # 推诿: the lead returns it to its co-handler, who returns it straight back
            await event(30, {"type": "return_requested", "unit": lead["code"],
                             "proposed_unit": partner["code"],
                             **_return(lead["kind"], partner["kind"], partner["name"])})
            await event(60, {"type": "return_upheld"})
            await event(65, {"type": "reassigned", "to_unit": partner["code"]})
            await event(120, {"type": "return_requested", "unit": partner["code"],
                              "proposed_unit": lead["code"],
                              **_return(partner["kind"], lead["kind"], lead["name"])})
            await event(150, {"type": "return_upheld"})
            state = await event(155, {"type": "reassigned", "to_unit": lead["code"]})
            if state.get("dispute_id"):
                disputes.append((state["dispute_id"], code))
            continue
        if plot == "return_rejected":
            await event(20, {"type": "return_requested", "unit": lead["code"],
                             "reason_code": "other", "basis": "认为不属本单位职责"})
            await event(50, {"type": "return_rejected"})
        await event(55, {"type": "signed", "unit": lead["code"]})
        await event(60 * 24, {"type": "completed"})
    counts["disputes"] = len(disputes)
    showcase = category(*SHOWCASE)
    units = {u["code"]: u for u in (await client.call("GET", "/v1/units"))["items"]}
    for dispute_id, code in disputes:
        dispute = await client.call("GET", f"/v1/disputes/{dispute_id}")
        parties = [p["code"] if isinstance(p, dict) else p for p in dispute["parties"]]
        for unit in parties:
            await client.call("POST", f"/v1/disputes/{dispute_id}/statements", {
                "unit": unit, **_statement(units[unit]["kind"])})
        if code == showcase and not counts["rulings"]:
            # the 二次供水 dispute is claimed and ruled; the rest wait in the queue
            await client.call("POST", f"/v1/disputes/{dispute_id}/claim", {})
            ruling = {**SHOWCASE_RULING, "generalize": {**SHOWCASE_RULING["generalize"],
                                                        "category": code}}
            await client.call("POST", f"/v1/disputes/{dispute_id}/ruling", ruling)
            counts["rulings"] += 1
    return counts
