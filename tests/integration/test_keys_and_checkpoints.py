"""On SQLite and PostgreSQL: arbiters are identified by id and stand aside (回避) in the
service layer; keys from the shell (list, revoke, rotate, expiry); audit checkpoints that a
database writer cannot get past by shortening or rewriting the chain."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from api.auth import authenticate
from api.cli import main
from api.db import make_engine
from api.deps import Services
from arbitration import audit, rulings, service
from arbitration.disputes import Arbiter
from arbitration.policy import DEFAULT_POLICY
from arbitration.tables import audit_head, audit_log
from arbitration.tables import rulings as rulings_table
from jurisdiction.errors import Conflict, Forbidden, Unauthorized
from tests.conftest import contract_bundle
from tests.integration.test_rulings import bounce, count, load, request, services_of


def rule(s: Services, dispute_id: str, arbiter: Arbiter) -> dict[str, Any]:
    return rulings.rule_dispute(s.db, s.router, dispute_id, request(), arbiter=arbiter,
                                actor=f"arbiter:{arbiter.name}", now=s.clock(),
                                after=s.after_matrix_change)

# -- identity and 回避 in the service layer ----------------------------------------------------


def test_an_arbiter_of_the_same_name_but_another_id_cannot_claim_a_held_dispute(
        app_client: TestClient) -> None:
    load(app_client)
    s = services_of(app_client)
    dispute_id = bounce(s, "T1")
    with s.db.begin() as conn:
        service.claim_dispute(conn, dispute_id, Arbiter("k1", "arbiter"), s.clock(),
                              DEFAULT_POLICY)
    with s.db.begin() as conn, pytest.raises(Conflict) as exc:
        service.claim_dispute(conn, dispute_id, Arbiter("k2", "arbiter"), s.clock(),
                              DEFAULT_POLICY)
    assert exc.value.code == "dispute_claimed"
    with pytest.raises(Conflict) as not_held:
        rule(s, dispute_id, arbiter=Arbiter("k2", "arbiter"))
    assert not_held.value.code == "dispute_not_claimed"
    ruled = rule(s, dispute_id, arbiter=Arbiter("k1", "arbiter"))
    with s.db.connect() as conn:
        row = conn.execute(select(rulings_table.c.arbiter)
                           .where(rulings_table.c.id == ruled["ruling_id"])).one()
    assert row.arbiter == "arbiter"


def test_an_arbiter_whose_unit_is_a_party_can_neither_claim_nor_rule(
        app_client: TestClient) -> None:
    load(app_client)
    s = services_of(app_client)
    dispute_id = bounce(s, "T1")  # parties JD-HP and D-ZJ
    partial = Arbiter("k1", "住建委仲裁员", unit="D-ZJ")
    with s.db.begin() as conn, pytest.raises(Forbidden) as claimed:
        service.claim_dispute(conn, dispute_id, partial, s.clock(), DEFAULT_POLICY)
    assert claimed.value.code == "conflict_of_interest"
    # held under the same id before the unit was known (an account bound to a unit later)
    with s.db.begin() as conn:
        service.claim_dispute(conn, dispute_id, Arbiter("k1", "住建委仲裁员"), s.clock(),
                              DEFAULT_POLICY)
    with pytest.raises(Forbidden) as ruled:
        rule(s, dispute_id, arbiter=partial)
    assert ruled.value.code == "conflict_of_interest"
    assert "回避" in ruled.value.message
    assert count(s, rulings_table) == 0


# -- keys from the shell -----------------------------------------------------------------------


@pytest.fixture
def cli_db(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("QUANZE_DATABASE_URL", database_url)
    monkeypatch.setenv("QUANZE_AUDIT_KEY_FILE", str(tmp_path / "secret" / "audit.key"))
    path = tmp_path / "b.json"
    path.write_text(json.dumps(contract_bundle(), ensure_ascii=False), encoding="utf-8")
    assert main(["import", str(path)]) == 0
    return database_url


def last_line(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


def keys_json(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, Any]]:
    capsys.readouterr()
    assert main(["keys", "list", "--json"]) == 0
    return {k["id"]: k for k in json.loads(capsys.readouterr().out)}


def test_keys_are_listed_revoked_and_rotated_from_the_shell(
        cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--role", "arbiter"]) == 0
    first = last_line(capsys)
    assert main(["keys", "create", "--role", "arbiter", "--unit", "D-CG",
                 "--expires", "2099-06-30"]) == 0
    second = last_line(capsys)
    keys = keys_json(capsys)
    assert len(keys) == 2
    for k in keys.values():
        assert set(k) >= {"id", "name", "role", "unit", "created_at", "last_used_at",
                          "revoked"}
        assert (k["name"], k["role"], k["revoked"], k["last_used_at"]) == (
            "arbiter", "arbiter", False, None)
    by_unit = {k["unit"]: k for k in keys.values()}
    assert by_unit["D-CG"]["expires_at"] == "2099-06-30T16:00:00+00:00"
    assert by_unit[None]["expires_at"] is None

    db = make_engine(cli_db)
    try:
        with db.connect() as conn:
            one, two = authenticate(conn, first), authenticate(conn, second)
        assert one.key_id != two.key_id and one.name == two.name

        assert main(["keys", "rotate", one.key_id]) == 0
        rotated = last_line(capsys)
        with db.connect() as conn:
            assert authenticate(conn, rotated).key_id == one.key_id
            with pytest.raises(Unauthorized):
                authenticate(conn, first)

        assert main(["keys", "revoke", two.key_id]) == 0
        assert "已吊销" in capsys.readouterr().out
        with db.connect() as conn, pytest.raises(Unauthorized):
            authenticate(conn, second)
        assert keys_json(capsys)[two.key_id]["revoked"] is True
        assert main(["keys", "revoke", "nope"]) == 1
        assert main(["keys", "create", "--role", "viewer", "--days", "0"]) == 1
    finally:
        db.dispose()


# -- audit checkpoints -------------------------------------------------------------------------


def import_bundle(tmp_path: Path, bundle: dict[str, Any]) -> None:
    """One more audited change, through the shell."""
    path = tmp_path / "change.json"
    path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
    assert main(["import", str(path)]) == 0


def checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "checkpoint.json"
    assert main(["audit", "checkpoint", "--out", str(out)]) == 0
    assert "已写入审计检查点" in capsys.readouterr().out
    return out


def verify(out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["audit", "verify", "--checkpoint", str(out)])
    return code, capsys.readouterr().out


def test_a_checkpoint_is_signed_with_a_key_file_made_readable_by_its_owner_only(
        cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = checkpoint(tmp_path, capsys)
    key_file = tmp_path / "secret" / "audit.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    data = json.loads(out.read_text(encoding="utf-8"))
    db = make_engine(cli_db)
    try:
        with db.connect() as conn:
            assert (data["seq"], data["hash"]) == audit.head_of(conn)
    finally:
        db.dispose()
    assert data["key_id"] == audit.key_id(audit.load_signing_key(key_file, create=False))
    bundle = contract_bundle()
    bundle["rules"][1]["priority"] = 5
    import_bundle(tmp_path, bundle)  # the log grows past the checkpoint
    code, text = verify(out, capsys)
    assert code == 0, text
    assert "审计日志延续检查点" in text


def test_removing_the_newest_entries_and_moving_the_head_back_breaks_the_checkpoint(
        cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = checkpoint(tmp_path, capsys)
    seq = json.loads(out.read_text(encoding="utf-8"))["seq"]
    db = make_engine(cli_db)
    try:
        with db.begin() as conn:
            conn.execute(delete(audit_log).where(audit_log.c.seq >= seq))
            prev = conn.execute(select(audit_log.c.hash).where(audit_log.c.seq == seq - 1)
                                ).scalar_one()
            conn.execute(update(audit_head).values(seq=seq - 1, hash=prev))
    finally:
        db.dispose()
    assert main(["audit", "verify"]) == 0  # the chain alone looks intact
    capsys.readouterr()
    code, text = verify(out, capsys)
    assert code == 1
    assert "被删除" in text


def test_a_chain_rewritten_from_before_the_checkpoint_breaks_it(
        cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = checkpoint(tmp_path, capsys)
    db = make_engine(cli_db)
    try:
        with db.begin() as conn:  # change entry 1 and recompute every hash after it
            rows = [dict(r) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))
                    .mappings()]
            prev = audit.GENESIS
            for row in rows:
                actor = "someone else" if row["seq"] == 1 else row["actor"]
                digest = audit.entry_hash(prev, row["seq"], audit._iso(row["at"]), actor,
                                          row["action"], row["subject"], row["before"],
                                          row["after"])
                conn.execute(update(audit_log).where(audit_log.c.seq == row["seq"])
                             .values(actor=actor, prev_hash=prev, hash=digest))
                prev = digest
            conn.execute(update(audit_head).values(hash=prev))
    finally:
        db.dispose()
    assert main(["audit", "verify"]) == 0  # consistent, so the chain alone cannot tell
    capsys.readouterr()
    code, text = verify(out, capsys)
    assert code == 1
    assert "改写" in text


def test_a_checkpoint_with_a_wrong_signature_or_key_fails(
        cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = checkpoint(tmp_path, capsys)
    data = json.loads(out.read_text(encoding="utf-8"))
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**data, "seq": data["seq"] - 1}), encoding="utf-8")
    code, text = verify(forged, capsys)
    assert code == 1 and "签名" in text
    monkeypatch.setenv("QUANZE_AUDIT_KEY_FILE", str(tmp_path / "other.key"))
    audit.load_signing_key(tmp_path / "other.key", create=True)
    code, text = verify(out, capsys)
    assert code == 1 and "密钥" in text
