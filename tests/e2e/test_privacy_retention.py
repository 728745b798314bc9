"""The retention of ticket text, on SQLite and PostgreSQL: ``quanze privacy purge`` removes
the text of old decisions and keeps the decisions, their replay and the audit chain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from api.cli import main
from arbitration.audit import verify_log
from arbitration.retention import purge_text
from arbitration.tables import audit_log
from rules.tables import decisions
from tests.conftest import Clock, contract_bundle

OLD = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
NEW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
CUTOFF = datetime(2026, 6, 1, tzinfo=UTC)
TICKET = {"category": "030101", "area": "110199001001",
          "attributes": {"location_type": "residential_compound"}}


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


def db_of(client: TestClient) -> Engine:
    engine: Engine = client.app.state.services.db  # type: ignore[attr-defined]
    return engine


def rows(client: TestClient) -> dict[str, dict[str, Any]]:
    with db_of(client).connect() as conn:
        return {r["id"]: dict(r) for r in conn.execute(select(decisions)).mappings()}


def route(client: TestClient, clock: Clock, at: datetime, **body: Any) -> str:
    clock.now = at
    return str(ok(client.post("/v1/route", json={**TICKET, "as_of": at.isoformat(),
                                                 **body}))["decision_id"])


@pytest.fixture
def routed(app_client: TestClient, clock: Clock) -> dict[str, str]:
    """Two old decisions (one without text) and one recent, all by R-0301-01's keyword."""
    ok(app_client.put("/v1/bundle", json=contract_bundle()))
    ids = {
        "old": route(app_client, clock, OLD, ticket_id="T-OLD",
                     text="张先生反映小区内有人私搭乱建，电话13812345678"),
        "old_empty": route(app_client, clock, OLD, ticket_id="T-EMPTY"),
        "new": route(app_client, clock, NEW, ticket_id="T-NEW", text="楼顶私搭乱建"),
    }
    clock.now = NEW
    return ids


def test_purge_removes_old_text_and_keeps_every_decision_as_it_was(
        app_client: TestClient, routed: dict[str, str]) -> None:
    before = rows(app_client)
    assert before[routed["old"]]["response"]["rule"]["id"] == "R-0301-01"
    dry = purge_text(db_of(app_client), before=CUTOFF, now=NEW, actor="test", dry_run=True)
    assert (dry.decisions, dry.texts_removed, dry.keywords_kept) == (2, 1, 1)
    assert rows(app_client) == before  # a dry run writes nothing
    report = purge_text(db_of(app_client), before=CUTOFF, now=NEW, actor="test")
    assert (report.decisions, report.texts_removed) == (2, 1)
    after = rows(app_client)
    old = after[routed["old"]]
    assert old["request"]["text"] == "" and old["request"]["text_removed"] is True
    assert old["request"]["kept_keywords"] == ["私搭"]
    assert "张先生" not in repr(old)
    assert old["text_removed_at"] == NEW
    for decision_id, row in after.items():  # the decision itself is unchanged
        kept = {k: v for k, v in row.items() if k not in ("request", "text_removed_at")}
        assert kept == {k: v for k, v in before[decision_id].items()
                        if k not in ("request", "text_removed_at")}
    assert after[routed["new"]] == before[routed["new"]]
    assert after[routed["old_empty"]]["request"] == before[routed["old_empty"]]["request"]
    # again: nothing left to do
    again = purge_text(db_of(app_client), before=CUTOFF, now=NEW, actor="test")
    assert (again.decisions, again.texts_removed) == (0, 0)
    ok(app_client.get(f"/v1/decisions/{routed['old']}"))


def test_a_purged_decision_replays_the_same_by_the_keywords_it_kept(
        app_client: TestClient, routed: dict[str, str]) -> None:
    purge_text(db_of(app_client), before=CUTOFF, now=NEW, actor="test")
    replay = ok(app_client.get(f"/v1/decisions/{routed['old']}/replay"))
    assert replay["same"] is True
    assert replay["text_removed"] is True and replay["keyword_tests"] == "exact"
    assert replay["replayed"]["rule"]["id"] == "R-0301-01"  # the keyword rule, not a fallback
    # a later version adds a rule with a keyword the purge could not keep
    bundle = contract_bundle()
    bundle["rules"].append({"id": "R-030101-NEW", "category": "030101", "text_any": ["张先生"],
                            "lead": "D-ZJ", "basis": "test", "valid_from": None})
    ok(app_client.put("/v1/bundle", json=bundle))
    later = ok(app_client.get(f"/v1/decisions/{routed['old']}/replay?version=current"))
    assert later["text_removed"] is True and later["keyword_tests"] == "limited"
    assert later["replayed"]["rule"]["id"] == "R-0301-01"
    original = ok(app_client.get(f"/v1/decisions/{routed['old']}/replay"))
    assert original["keyword_tests"] == "exact" and original["same"] is True
    kept = ok(app_client.get(f"/v1/decisions/{routed['new']}/replay"))
    assert kept["text_removed"] is False and "keyword_tests" not in kept


def test_purge_appends_to_the_audit_log_and_leaves_the_chain_intact(
        app_client: TestClient, routed: dict[str, str]) -> None:
    with db_of(app_client).connect() as conn:
        entries_before = conn.execute(select(audit_log)).all()
    purge_text(db_of(app_client), before=CUTOFF, now=NEW, actor="cli:admin")
    with db_of(app_client).connect() as conn:
        entries = conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings().all()
        count, problems = verify_log(conn)
    assert [tuple(e) for e in entries_before] == [
        tuple(e.values()) for e in entries[:len(entries_before)]]
    assert entries[-1]["action"] == "privacy_purge"
    assert entries[-1]["after"]["texts_removed"] == 1
    assert problems == [] and count == len(entries_before) + 1


def test_the_purge_command_counts_in_chinese_and_follows_the_retention_setting(
        app_client: TestClient, routed: dict[str, str], database_url: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("QUANZE_DATABASE_URL", database_url)
    assert main(["privacy", "purge", "--before", "2026-06-01", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "将清除诉求文本：1 条决定（共检查 2 条" in out and "试运行" in out
    assert rows(app_client)[routed["old"]]["request"].get("text_removed") is None
    monkeypatch.setenv("QUANZE_TEXT_RETENTION_DAYS", "0")
    assert main(["privacy", "purge"]) == 0
    assert "未启用" in capsys.readouterr().out
    assert rows(app_client)[routed["old"]]["text_removed_at"] is None
    # the default period: 180 days before today, which is after March 2026
    monkeypatch.setenv("QUANZE_TEXT_RETENTION_DAYS", "180")
    assert main(["privacy", "purge"]) == 0
    out = capsys.readouterr().out
    assert "已清除诉求文本：" in out and "保留期 180 天" in out
    assert rows(app_client)[routed["old"]]["request"]["text_removed"] is True
    assert main(["privacy", "purge", "--before", "明天"]) == 2


def test_a_ruling_preview_still_finds_a_purged_decision_by_its_kept_keyword(
        app_client: TestClient, routed: dict[str, str]) -> None:
    purge_text(db_of(app_client), before=CUTOFF, now=NEW, actor="test")
    dispute = ok(app_client.post("/v1/disputes", json={"parties": ["JD-HP", "D-ZJ"]}), 201)
    ok(app_client.post(f"/v1/disputes/{dispute['id']}/claim", json={}))

    def changed(keyword: str) -> set[str]:
        preview = ok(app_client.post(f"/v1/disputes/{dispute['id']}/ruling/preview", json={
            "lead": "D-ZJ", "reasoning": "住建委牵头", "basis": "纪要",
            "document_no": "示政办裁〔2026〕9号", "retire_rules": [],
            "generalize": {"category": "030101", "area": None, "when": {},
                           "text_any": [keyword]}}))
        return {d["decision_id"] for d in preview["changed_decisions"]["sample"]}

    # The ruling gives 030101 to a department, so the decision without text, which fell
    # back to the street, changes whatever the keyword (rules.departmental).
    fell_back = routed["old_empty"]
    assert fell_back in changed("私搭")
    # 私搭 was a keyword of the matrix when the text was removed: kept, so the purged
    # decision is still found beside the recent one
    assert changed("私搭") - {fell_back} == {routed["old"], routed["new"]}
    # 张先生 was not: only the decision that still holds its text can show it
    assert changed("楼顶") - {fell_back} == {routed["new"]}
    assert routed["old"] not in changed("张先生")
