"""Keys over HTTP, on SQLite and PostgreSQL: each key is its own arbiter, an arbiter of a
party unit stands aside (回避), admins list, create, revoke and rotate keys (audited), and a
revoked or rotated secret is refused by every server within a second."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.app import create_app
from api.auth import EPOCH_CHECK_SECONDS, LAST_USED_SECONDS, create_key
from api.settings import AppSettings
from arbitration.tables import audit_log
from tests.conftest import Clock
from tests.e2e.test_api_disputes import load_tied, open_by_hand
from tests.e2e.test_api_tickets import key

PROBLEM = "application/problem+json"
CONTRACT_FIELDS = {"id", "name", "role", "unit", "created_at", "last_used_at", "revoked"}


class Ticker:
    """A settable monotonic clock for a server's key cache."""

    def __init__(self) -> None:
        self.now = time.monotonic() + 10_000.0  # later than anything the real clock noted

    def __call__(self) -> float:
        return self.now


def refused(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = dict(response.json())
    assert body["code"] == code, body
    return body


def make_key(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/keys", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


# -- identity and 回避 --------------------------------------------------------------------------


def test_two_arbiter_keys_without_a_name_are_two_arbiters(app_client: TestClient) -> None:
    load_tied(app_client)
    d = open_by_hand(app_client, parties=["D-CG", "JD-HP"])
    # what `quanze keys create --role arbiter` makes twice: the name defaults to the role
    first, second = key(app_client, "arbiter", "arbiter"), key(app_client, "arbiter", "arbiter")
    claimed = app_client.post(f"/v1/disputes/{d['id']}/claim", json={}, headers=first)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["arbiter"] == "arbiter"  # the shared display name
    refused(app_client.post(f"/v1/disputes/{d['id']}/claim", json={}, headers=second),
            409, "dispute_claimed")
    ruling = {"lead": "JD-HP", "co_handlers": [], "reasoning": "属地管理", "basis": "清单第12项",
              "document_no": "示政办裁〔2026〕9号"}
    refused(app_client.post(f"/v1/disputes/{d['id']}/ruling", json=ruling, headers=second),
            409, "dispute_not_claimed")
    ruled = app_client.post(f"/v1/disputes/{d['id']}/ruling", json=ruling, headers=first)
    assert ruled.status_code == 201, ruled.text


def test_an_arbiter_of_a_party_unit_may_not_claim_the_dispute(app_client: TestClient) -> None:
    load_tied(app_client)
    d = open_by_hand(app_client, parties=["D-CG", "JD-HP"])
    partial = key(app_client, "arbiter", "城管委仲裁员", unit="D-CG")
    body = refused(app_client.post(f"/v1/disputes/{d['id']}/claim", json={}, headers=partial),
                   403, "conflict_of_interest")
    assert "回避" in body["detail"] and "D-CG" in body["detail"]
    assert app_client.get(f"/v1/disputes/{d['id']}").json()["status"] == "open"
    other = open_by_hand(app_client, parties=["JD-HP", "D-ZJ"])
    claimed = app_client.post(f"/v1/disputes/{other['id']}/claim", json={}, headers=partial)
    assert claimed.status_code == 200, claimed.text


# -- keys for admins ---------------------------------------------------------------------------


def test_admins_list_create_revoke_and_rotate_keys_and_each_change_is_audited(
        app_client: TestClient, clock: Clock) -> None:
    load_tied(app_client)
    made = make_key(app_client, role="arbiter", unit="D-ZJ", name="住建委", expires="2027-06-30")
    assert made["expires_at"] == "2027-06-30T16:00:00+00:00"  # end of the day in Beijing
    assert made["key"].startswith("qz_")
    listed = {k["id"]: k for k in app_client.get("/v1/keys").json()["keys"]}
    assert set(listed[made["id"]]) >= CONTRACT_FIELDS
    assert "key" not in listed[made["id"]] and "key_hash" not in listed[made["id"]]
    assert (listed[made["id"]]["role"], listed[made["id"]]["unit"],
            listed[made["id"]]["revoked"]) == ("arbiter", "D-ZJ", False)

    rotated = app_client.post(f"/v1/keys/{made['id']}/rotate")
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert (new["id"], new["role"], new["unit"]) == (made["id"], "arbiter", "D-ZJ")
    assert new["key"] != made["key"]
    refused(app_client.get("/v1/disputes", headers=bearer(made["key"])), 401, "unauthorized")
    assert app_client.get("/v1/disputes", headers=bearer(new["key"])).status_code == 200

    revoked = app_client.post(f"/v1/keys/{made['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    refused(app_client.get("/v1/disputes", headers=bearer(new["key"])), 401, "unauthorized")
    refused(app_client.post(f"/v1/keys/{made['id']}/rotate"), 409, "key_revoked")
    refused(app_client.post("/v1/keys/nope/revoke"), 404, "key_not_found")

    with app_client.app.state.services.db.connect() as conn:  # type: ignore[attr-defined]
        actions = [r.action for r in conn.execute(
            select(audit_log.c.action).where(audit_log.c.subject == f"key:{made['id']}")
            .order_by(audit_log.c.seq))]
    assert actions == ["key_created", "key_rotated", "key_revoked"]


def test_only_an_admin_manages_keys(app_client: TestClient) -> None:
    load_tied(app_client)
    arbiter = key(app_client, "arbiter", "ann")
    refused(app_client.get("/v1/keys", headers=arbiter), 403, "forbidden")
    refused(app_client.post("/v1/keys", json={"role": "admin"}, headers=arbiter), 403,
            "forbidden")
    refused(app_client.post("/v1/keys", json={"role": "unit", "unit": "D-XX"}), 422,
            "unknown_unit")


def test_an_expired_key_is_refused_even_from_the_cache(
        app_client: TestClient, clock: Clock) -> None:
    load_tied(app_client)
    made = make_key(app_client, role="viewer", days=2)
    assert app_client.get("/v1/disputes", headers=bearer(made["key"])).status_code == 200
    clock.now += timedelta(days=2)
    refused(app_client.get("/v1/disputes", headers=bearer(made["key"])), 401, "key_expired")


def test_the_last_use_is_recorded_at_most_once_a_minute(
        app_client: TestClient, clock: Clock) -> None:
    load_tied(app_client)
    services = app_client.app.state.services  # type: ignore[attr-defined]
    ticker = Ticker()
    services.keys.ticker = ticker
    made = make_key(app_client, role="viewer")
    assert made["last_used_at"] is None
    used_at = clock.now
    app_client.get("/v1/disputes", headers=bearer(made["key"]))

    def last_used() -> str | None:
        ticker.now += EPOCH_CHECK_SECONDS  # the admin's request writes what was noted
        keys = {k["id"]: k for k in app_client.get("/v1/keys").json()["keys"]}
        return keys[made["id"]]["last_used_at"]  # type: ignore[no-any-return]

    assert last_used() == used_at.isoformat()
    clock.now += timedelta(seconds=30)
    app_client.get("/v1/disputes", headers=bearer(made["key"]))
    assert last_used() == used_at.isoformat()  # within the minute: not written again
    ticker.now += LAST_USED_SECONDS
    clock.now += timedelta(seconds=60)
    app_client.get("/v1/disputes", headers=bearer(made["key"]))
    assert last_used() == clock.now.isoformat()


# -- two servers on one database ---------------------------------------------------------------


@pytest.fixture
def two_servers(database_url: str, clock: Clock) -> Iterator[tuple[TestClient, TestClient]]:
    settings = AppSettings(database_url=database_url, refresh_interval=0.0)
    first, second = create_app(settings, clock=clock), create_app(settings, clock=clock)
    with TestClient(first) as a, TestClient(second) as b:
        with first.state.services.db.begin() as conn:
            admin = create_key(conn, role="admin", name="tests", unit=None, now=clock())
        a.headers["Authorization"] = b.headers["Authorization"] = f"Bearer {admin}"
        yield a, b


@pytest.mark.parametrize("change", ["revoke", "rotate"])
def test_a_key_revoked_or_rotated_on_one_server_is_refused_by_another_within_a_second(
        two_servers: tuple[TestClient, TestClient], change: str) -> None:
    a, b = two_servers
    ticker = Ticker()
    b.app.state.services.keys.ticker = ticker  # type: ignore[attr-defined]
    made = make_key(a, role="router")
    assert b.get("/v1/disputes", headers=bearer(made["key"])).status_code == 200  # cached on b
    assert a.post(f"/v1/keys/{made['id']}/{change}").status_code == 200
    ticker.now += 1.0
    refused(b.get("/v1/disputes", headers=bearer(made["key"])), 401, "unauthorized")
