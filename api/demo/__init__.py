"""The bundled demo district (示范区), built by ``tools/build_demo_district.py``."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def district() -> dict[str, Any]:
    """The demo district as a bundle (contract.md): what ``quanze demo`` loads."""
    return dict(json.loads(resources.files(__package__).joinpath("district.json")
                           .read_text(encoding="utf-8")))


#: The demo's staff accounts: (login, name, role, unit). Two arbiters and two editors, so
#: that a claim by another arbiter and four-eyes approval can be tried.
STAFF: tuple[tuple[str, str, str, str | None], ...] = (
    ("wangmin", "王敏", "arbiter", None),
    ("zhaoqiang", "赵强", "arbiter", None),
    ("chengguan", "陈光", "unit", "D-CG"),
    ("weijian", "魏健", "unit", "D-WJ"),
    ("rexian", "李红", "router", "O-RX"),
    ("zhoubian", "周编", "editor", None),
    ("sunshen", "孙审", "editor", None),
    ("chakan", "钱查", "viewer", None),
)
