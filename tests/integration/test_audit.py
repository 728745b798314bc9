"""The audit log's hash chain detects altered and removed entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, update

from api.cli import main
from api.db import make_engine
from arbitration.tables import audit_log
from tests.conftest import contract_bundle


@pytest.fixture
def audited_db(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("QUANZE_DATABASE_URL", database_url)
    path = tmp_path / "b.json"
    path.write_text(json.dumps(contract_bundle(), ensure_ascii=False), encoding="utf-8")
    assert main(["import", str(path)]) == 0
    bundle = contract_bundle()
    bundle["rules"][1]["lead"] = "D-ZJ"
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    assert main(["import", str(path)]) == 0
    return database_url


def test_every_rule_change_is_in_an_intact_chain(
        audited_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify"]) == 0
    assert "5 entries" in capsys.readouterr().out  # 2 rules + version, 1 rule + version


@pytest.mark.parametrize("tamper", ["alter", "remove_middle", "remove_last", "append"])
def test_an_altered_or_removed_entry_breaks_the_chain(
        audited_db: str, tamper: str, capsys: pytest.CaptureFixture[str]) -> None:
    db = make_engine(audited_db)
    with db.begin() as conn:
        if tamper == "alter":
            conn.execute(update(audit_log).where(audit_log.c.seq == 2)
                         .values(actor="someone else"))
        elif tamper == "remove_middle":
            conn.execute(delete(audit_log).where(audit_log.c.seq == 3))
        elif tamper == "remove_last":
            conn.execute(delete(audit_log).where(audit_log.c.seq == 5))
        else:  # an entry added behind the log's back: the head does not reach it
            row = dict(conn.execute(select(audit_log).where(audit_log.c.seq == 5))
                       .mappings().one())
            conn.execute(insert(audit_log).values({**row, "seq": 6, "prev_hash": row["hash"]}))
    db.dispose()
    assert main(["audit", "verify"]) == 1
    out = capsys.readouterr().out
    assert "BROKEN" in out
