"""The bundled demo district (示范区), built by ``tools/build_demo_district.py``."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def district() -> dict[str, Any]:
    """The demo district as a bundle (contract.md): what ``quanze demo`` loads."""
    return dict(json.loads(resources.files(__package__).joinpath("district.json")
                           .read_text(encoding="utf-8")))
