"""`quanze import` of a duty list marks department- and utility-led matters departmental and
says so; their gaps then go to that unit (国办函〔2025〕66号 §五), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.cli import main
from tests.conftest import contract_bundle


def test_importing_a_duty_list_marks_a_utility_led_leaf_and_its_gap_goes_to_the_utility(
        cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = contract_bundle()
    bundle["units"].append({"code": "U-SS", "name": "示范区自来水有限公司", "kind": "utility"})
    (tmp_path / "base.json").write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    assert main(["import", str(tmp_path / "base.json")]) == 0
    csv = tmp_path / "water.csv"
    csv.write_text("事项编码,一级分类,二级分类,三级分类,乡镇职责类型,牵头单位,条件,依据,生效日期\n"
                   "040201,市政公用,供水,小区停水,,示范区自来水有限公司,cause=pipe,"
                   "《城市供水条例》第二十二条,2026-01-01\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["import", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "类别 040201（小区停水） 标记为部门事项，兜底单位 示范区自来水有限公司" in out

    assert main(["route", "--category", "040201", "--area", "110199002",
                 "--attr", "cause=meter"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["status"] == "fallback"
    assert decision["lead"]["code"] == "U-SS"
    assert decision["explanation"]["fallback_step"] == "category_default"
