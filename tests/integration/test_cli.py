"""The command line against a real database: import, export, verify, route, keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api import demo
from api.cli import main


def test_the_demo_district_imports_and_verify_reports_its_deliberate_overlap(
        cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(demo.district(), ensure_ascii=False), encoding="utf-8")
    assert main(["import", str(path)]) == 0
    assert "规则版本 0 → 1" in capsys.readouterr().out
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert "overlap" in out and "R-040104-02" in out
    assert "gap" in out and "shadowed" in out


def test_export_to_excel_and_back_changes_nothing(
        cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle_path = tmp_path / "demo.json"
    bundle_path.write_text(json.dumps(demo.district(), ensure_ascii=False), encoding="utf-8")
    assert main(["import", str(bundle_path)]) == 0
    assert main(["export", str(tmp_path / "matrix.xlsx")]) == 0
    assert main(["export", str(tmp_path / "before.json")]) == 0
    capsys.readouterr()
    assert main(["import", str(tmp_path / "matrix.xlsx"), "--mode", "replace"]) == 0
    assert "无变化（规则版本 1）" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "after.json")]) == 0
    assert (json.loads((tmp_path / "before.json").read_text(encoding="utf-8"))
            == json.loads((tmp_path / "after.json").read_text(encoding="utf-8")))


def test_a_duty_list_with_problems_writes_nothing_and_names_rows_and_columns(
        cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("事项编码,三级分类,乡镇职责类型,牵头单位,配合单位,依据,生效日期\n"
                   "030101,小区内私搭乱建,基本,,区不存在局,清单第1项,2026-01-01\n"
                   "0301x,违法建设,配合,区住建委,,清单第2项,明天\n", encoding="utf-8")
    assert main(["import", str(csv)]) == 1
    err = capsys.readouterr().err
    assert "bad.csv:2" in err and "bad.csv:3" in err
    assert main(["verify"]) == 1  # still empty: no hotline office
    assert "version 0" in capsys.readouterr().out


def test_the_shipped_duty_list_example_imports(
        cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    example = Path(__file__).parents[2] / "docs" / "examples" / "duty-list-example.xlsx"
    assert main(["import", str(example)]) == 0
    assert "规则版本 0 → 1" in capsys.readouterr().out


def test_route_prints_the_decision_and_keys_create_prints_the_key_last(
        cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(demo.district(), ensure_ascii=False), encoding="utf-8")
    assert main(["import", str(path)]) == 0
    capsys.readouterr()
    assert main(["route", "--category", "040104", "--area", "110199001",
                 "--attr", "location_type=commercial"]) == 0
    decision = json.loads(capsys.readouterr().out)
    assert decision["status"] == "ambiguous"
    # a departmental matter waits with its default unit, not with the street
    default_unit = next(c["default_unit"] for c in demo.district()["categories"]
                        if c["code"] == "040104")
    assert decision["lead"]["code"] == default_unit and decision["lead"]["kind"] == "department"
    assert main(["keys", "create", "--role", "router", "--name", "hotline"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("qz_")
    assert main(["route", "--category", "nope"]) == 1


def test_stats_rebuild_counts_the_rollups_again_in_the_zone_asked_for(
        cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    from sqlalchemy import select

    from api.db import make_engine
    from rules.tables import rollup_zone

    assert main(["stats", "rebuild"]) == 0
    out = capsys.readouterr().out
    assert "Asia/Shanghai" in out and "ticket_days: 0 行" in out
    assert main(["stats", "rebuild", "--timezone", "Asia/Urumqi"]) == 0
    engine = make_engine(cli_db)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(rollup_zone.c.timezone)).scalar_one() == "Asia/Urumqi"
    finally:
        engine.dispose()
    assert main(["stats", "rebuild", "--timezone", "Mars/Olympus"]) == 1
    assert "无法识别的时区「Mars/Olympus」" in capsys.readouterr().err
