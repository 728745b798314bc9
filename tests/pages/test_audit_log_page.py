"""审计日志: filters by person, object and date with links to what each entry changed, and the
chain's state checked incrementally (the whole chain hourly or on request)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select, update

from arbitration import audit
from arbitration.tables import audit_head, audit_log
from tests.pages.conftest import Workbench
from tests.pages.test_read_pages import table_rows

BEIJING = ZoneInfo("Asia/Shanghai")


def _count(page: str) -> int:
    found = re.search(r"共 (\d+) 条记录", page)
    assert found, "the page shows no chain state"
    return int(found.group(1))


def _entries(workbench: Workbench) -> int:
    services = workbench.app.state.services  # type: ignore[attr-defined]
    with services.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_log)).scalar_one())


def test_the_audit_page_filters_by_date_both_days_included(workbench: Workbench) -> None:
    services = workbench.app.state.services  # type: ignore[attr-defined]
    with services.db.connect() as conn:
        times = [r[0] for r in conn.execute(select(audit_log.c.at))]
    days = sorted({t.astimezone(BEIJING).date() for t in times})
    assert len(days) > 1, "the demo's log spans one day: the test proves nothing"
    day = days[len(days) // 2]
    browser = workbench.signed_in("chakan")
    page = browser.get("/audit", params={"from": day.isoformat(), "to": day.isoformat()}).text
    shown = table_rows(page, "audit")
    expected = sum(t.astimezone(BEIJING).date() == day for t in times)
    assert len(shown) == min(expected, 50)
    assert all(f"{day.year}年{day.month}月{day.day}日" in row[1] for row in shown)
    backwards = browser.get("/audit", params={"from": day.isoformat(),
                                              "to": (day - timedelta(days=1)).isoformat()})
    assert backwards.status_code == 422 and 'id="e-to"' in backwards.text


@pytest.mark.parametrize(("prefix", "link"), [
    ("dispute:", r'href="/disputes/[^"]+"'),
    ("rule:", r'href="/catalogue/rules/[^"]+"'),
    ("ticket:", r'href="/tickets/[^"]+"'),
])
def test_each_entry_links_to_what_it_changed(workbench: Workbench, prefix: str,
                                             link: str) -> None:
    page = workbench.signed_in("wangmin").get("/audit", params={"subject": prefix}).text
    rows = re.findall(r"<tr>\s*<td>\d+</td>.*?</tr>", page, re.S)
    assert rows, f"no {prefix} entries in the demo's log"
    assert all(re.search(link, row) for row in rows)


def test_a_view_checks_only_the_entries_added_since_the_last(
        workbench: Workbench, monkeypatch: pytest.MonkeyPatch) -> None:
    browser = workbench.signed_in("wangmin")
    first = browser.get("/audit").text
    assert "哈希链校验通过" in first and _count(first) == _entries(workbench)
    checked: list[int] = []
    real = audit.verify_chain

    def counting(rows, head, **kwargs):  # type: ignore[no-untyped-def]
        found = real(rows, head, **kwargs)
        checked.append(found[0])
        return found

    monkeypatch.setattr(audit, "verify_chain", counting)
    workbench.signed_in("zhaoqiang")  # signing in appends an entry
    page = browser.get("/audit").text
    assert _count(page) == _entries(workbench) == _count(first) + 1
    assert checked == [1]  # the new entry, not the whole chain
    browser.get("/audit")
    assert checked == [1, 0]


def test_an_older_entry_altered_is_found_by_a_whole_check_on_request(
        workbench: Workbench) -> None:
    browser = workbench.signed_in("wangmin")
    assert "哈希链校验通过" in browser.get("/audit").text
    services = workbench.app.state.services  # type: ignore[attr-defined]
    with services.db.begin() as conn:
        actor = conn.execute(select(audit_log.c.actor).where(audit_log.c.seq == 3)).scalar_one()
        conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(actor="someone"))
    # within the hour a view checks the new entries only; 立即从头校验 checks them all
    assert "哈希链校验通过" in browser.get("/audit").text
    page = browser.get("/audit", params={"verify": "full"}).text
    assert "哈希链校验未通过" in page and "最早一处在第 3 条" in page
    assert "哈希链校验未通过" in browser.get("/audit").text  # a broken chain stays broken
    with services.db.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(actor=actor))
    assert "哈希链校验通过" in browser.get("/audit").text  # and is checked whole each view


def test_the_whole_chain_is_checked_again_after_a_while(workbench: Workbench) -> None:
    # an hour in the app; a minute here, so the session outlives it
    workbench.app.state.audit_chain_cache = audit.ChainCache(  # type: ignore[attr-defined]
        full_every=timedelta(minutes=1))
    browser = workbench.signed_in("wangmin")
    assert "哈希链校验通过" in browser.get("/audit").text
    services = workbench.app.state.services  # type: ignore[attr-defined]
    with services.db.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(actor="someone"))
    assert "哈希链校验通过" in browser.get("/audit").text  # within the minute: new entries only
    workbench.clock.now += timedelta(minutes=2)
    page = browser.get("/audit").text
    assert "哈希链校验未通过" in page and "最早一处在第 2 条" in page


def test_removing_the_newest_entries_is_found_on_the_next_view(workbench: Workbench) -> None:
    browser = workbench.signed_in("wangmin")
    assert "哈希链校验通过" in browser.get("/audit").text
    services = workbench.app.state.services  # type: ignore[attr-defined]
    with services.db.begin() as conn:
        newest = conn.execute(select(func.max(audit_log.c.seq))).scalar_one()
        before = conn.execute(select(audit_log.c.hash).where(audit_log.c.seq == newest - 2)
                              ).scalar_one()
        conn.execute(delete(audit_log).where(audit_log.c.seq > newest - 2))
        conn.execute(update(audit_head).values(seq=newest - 2, hash=before))
    page = browser.get("/audit").text
    # the head moved back with the entries: the chain itself is intact, so only a signed
    # checkpoint (quanze audit checkpoint) can tell; the page counts what is there
    assert _count(page) == newest - 2


def test_a_long_log_is_checked_whole_in_the_background(workbench: Workbench) -> None:
    cache = audit.ChainCache(inline=0)
    services = workbench.app.state.services  # type: ignore[attr-defined]
    now = datetime.now(BEIJING)
    assert cache.state(services.db, now=now) is None  # checking in a thread
    cache.join(timeout=30)
    state = cache.state(services.db, now=now)
    assert state is not None and not state.problems and state.count == _entries(workbench)
    assert state.checked == 0 and not cache.checking
