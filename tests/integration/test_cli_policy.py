"""`quanze policy show | set | calendar`: a clerk enters next year's holidays from a plain text
file, sees them, and `quanze verify` stops warning `calendar_unknown`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from api import cli
from api.cli import main
from tests.conftest import contract_bundle


@pytest.fixture
def cli_db(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("QUANZE_DATABASE_URL", database_url)
    monkeypatch.setattr(cli, "utc_now", lambda: datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(contract_bundle(), ensure_ascii=False), encoding="utf-8")
    assert main(["import", str(bundle)]) == 0
    return tmp_path


def test_a_clerk_enters_next_years_holidays_and_verify_stops_warning(
        cli_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["verify"]) == 0
    assert "calendar_unknown" in capsys.readouterr().out
    holidays = cli_db / "放假.txt"
    holidays.write_text("# 2027 年（示例，非官方安排）\n2027-01-01\n\n"
                        "2027-02-06..2027-02-12  # 春节\n", encoding="utf-8")
    working = cli_db / "上班.txt"
    working.write_text("2027-02-14\n", encoding="utf-8")
    assert main(["policy", "calendar", "--district", "110199001", "--year", "2027",
                 "--holidays-file", str(holidays), "--working-days-file", str(working)]) == 0
    out = capsys.readouterr().out
    assert "示范区（110199）" in out and "放假 8 天，调休上班 1 天" in out

    assert main(["policy", "show", "--district", "110199", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["source"] == "district" and shown["revision"] == 1
    assert shown["policy"]["calendar"] == {
        "years": [2027],
        "holidays": ["2027-01-01"] + [f"2027-02-{d:02d}" for d in range(6, 13)],
        "working_days": ["2027-02-14"]}
    assert main(["policy", "show", "--district", "110199"]) == 0
    assert "2027 年：放假 8 天，调休上班 1 天" in capsys.readouterr().out
    assert main(["verify"]) == 0
    assert "calendar_unknown" not in capsys.readouterr().out

    # Entering the year again replaces its dates and keeps the rest of the policy.
    holidays.write_text("2027-01-01\n", encoding="utf-8")
    assert main(["policy", "calendar", "--district", "110199", "--year", "2027",
                 "--holidays-file", str(holidays)]) == 0
    capsys.readouterr()
    assert main(["policy", "show", "--district", "110199", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["revision"] == 2
    assert again["policy"]["calendar"] == {"years": [2027], "holidays": ["2027-01-01"],
                                           "working_days": []}


def test_policy_show_and_set_round_trip(cli_db: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    custom = {"bounce_cap": 4, "return_windows": {"standard": 2, "complex": 3},
              "calendar": {"years": [2027], "holidays": ["2027-01-01"], "working_days": []}}
    path = cli_db / "policy.json"
    path.write_text(json.dumps(custom), encoding="utf-8")
    assert main(["policy", "set", str(path)]) == 0
    assert "修订 1" in capsys.readouterr().out
    assert main(["policy", "show", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["policy"]["bounce_cap"] == 4
    assert first["policy"]["calendar"] == custom["calendar"]
    path.write_text(json.dumps(first["policy"], ensure_ascii=False), encoding="utf-8")
    assert main(["policy", "set", str(path)]) == 0
    capsys.readouterr()
    assert main(["policy", "show", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["revision"] == 2 and second["policy"] == first["policy"]
    assert main(["policy", "show"]) == 0
    out = capsys.readouterr().out
    assert "反复派单上限：4 次" in out and "本策略补录 2027 年" in out


def test_bad_files_and_values_are_refused_in_chinese_naming_the_line_or_field(
        cli_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    dates = cli_db / "dates.txt"
    dates.write_text("2027-01-01\n2028-01-01\n", encoding="utf-8")
    assert main(["policy", "calendar", "--year", "2027", "--holidays-file", str(dates)]) == 2
    assert "dates.txt 第2行：2028-01-01 不在 2027 年" in capsys.readouterr().err
    dates.write_text("2027-02-30\n", encoding="utf-8")
    assert main(["policy", "calendar", "--year", "2027", "--holidays-file", str(dates)]) == 2
    assert "第1行" in capsys.readouterr().err
    path = cli_db / "policy.json"
    path.write_text('{"return_windows": {"standard": NaN}}', encoding="utf-8")
    assert main(["policy", "set", str(path)]) == 1
    assert "字段 return_windows.standard" in capsys.readouterr().err
    assert main(["policy", "show", "--district", "999", "--json"]) == 1
    assert main(["policy", "show", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["revision"] == 0
