"""Fault injection: a PostgreSQL server this module starts itself, a quanze server
(``quanze serve``, a process of its own) on it, a bounded load of routes and ticket events,
and then the database restarted (crashed) mid-load and frozen.

Run alone with ``pytest -m faults`` (or ``pytest tests/faults``); it runs in the normal suite
too, and is skipped, saying why, where PostgreSQL's server programs are not installed.
What it holds (docs/reliability.md, "Faults and concurrency"):

- nothing acknowledged is lost: every decision answered 200 is in the database afterwards,
  every ticket event answered 200 too;
- the service recovers by itself, without a restart;
- while the database is away every error is a 503 problem+json with ``Retry-After``, never a
  500 or plain text;
- while the database is frozen, ``/v1/health`` answers and routes answer 503.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from api.auth import create_key
from api.db import make_engine, upgrade
from arbitration.tables import ticket_events
from rules.tables import decisions
from tests.conftest import contract_bundle

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster in a temporary directory, on a free port."""

    bin: Path
    data: Path
    port: int
    #: as root the cluster runs as the ``postgres`` user (initdb refuses root)
    user: str | None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=60)
        assert done.returncode == 0, done.stderr.decode(errors="replace")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync", "--locale=C")

    def start(self) -> None:
        # fsync off: the faults here kill processes, not the machine, so what PostgreSQL
        # acknowledged is in the operating system's cache and survives them
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-l",
                  str(self.data / "server.log"), "-o",
                  f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} "
                  "-c fsync=off -c max_connections=100", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", "-m", mode, "stop")

    def processes(self) -> list[int]:
        """The postmaster and its children."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                    and _parent(int(p.name)) == postmaster]
        return [postmaster, *children]


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    bin_dir = _server_bin()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        pytest.skip("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    user = None
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        user = "postgres"
    # not under pytest's temporary directory: the postgres user cannot enter root's
    base = Path(tempfile.mkdtemp(prefix="quanze-faults-"))
    if user is not None:
        shutil.chown(base, user)
    pg = Postgres(bin_dir, base / "data", _free_port(), user)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        if (pg.data / "postmaster.pid").exists():
            for pid in pg.processes():
                os.kill(pid, signal.SIGCONT)
            pg.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Server:
    url: str
    key: str
    db: Engine
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, timeout: float = 20) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout,
                            headers={"Authorization": f"Bearer {self.key}"})


@pytest.fixture(scope="module")
def server(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = make_engine(postgres.url)
    upgrade(db)
    with db.begin() as conn:
        key = create_key(conn, role="admin", name="faults", unit=None, now=datetime.now(UTC))
    port = _free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = dict(os.environ, PYTHONPATH=str(ROOT), QUANZE_DATABASE_URL=postgres.url,
               QUANZE_WRITE_TIMEOUT="2")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "from api.cli import main; main()", "serve",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    s = Server(f"http://127.0.0.1:{port}", key, db, process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{s.url}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        with s.client() as c:
            assert c.put("/v1/bundle", json=contract_bundle()).status_code == 200
        yield s
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        db.dispose()


@dataclass
class Load:
    """A few client threads sending routes and ticket events until stopped, keeping every
    answer: (kind, status, content type, Retry-After, body or None)."""

    server: Server
    threads: int = 4
    answers: list[tuple[str, int, str, str | None, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def _work(self, worker: int) -> None:
        n = 0
        with self.server.client() as c:
            while not self._stop.is_set():
                n += 1
                if n % 2:
                    kind, response = "route", c.post("/v1/route", json={
                        "category": "030102", "ticket_id": f"F-{worker}-{n}"})
                else:
                    kind, response = "event", c.post(
                        f"/v1/tickets/F-{worker}-{n}/events", json={
                            "type": "dispatched", "unit": "D-CG", "category": "030102",
                            "area": "110199001"})
                try:
                    body = response.json()
                except ValueError:
                    body = None
                self.answers.append((kind, response.status_code,
                                     response.headers.get("content-type", ""),
                                     response.headers.get("retry-after"), body))
                time.sleep(0.02)  # bounded: about 50 requests a second per thread at most

    def __enter__(self) -> Load:
        self._workers = [threading.Thread(target=self._work, args=(i,)) for i in range(
            self.threads)]
        for w in self._workers:
            w.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for w in self._workers:
            w.join(60)

    def ok(self, kind: str) -> int:
        return sum(1 for k, status, *_ in self.answers if k == kind and status == 200)


def wait_until_routing(server: Server, timeout: float = 40) -> int:
    """Seconds until a route is answered 200 again (no restart of the server)."""
    start = time.monotonic()
    with server.client(timeout=10) as c:
        while time.monotonic() - start < timeout:
            try:
                if c.post("/v1/route", json={"category": "030102"}).status_code == 200:
                    return int(time.monotonic() - start)
            except httpx.TransportError:
                pass
            time.sleep(0.2)
    raise AssertionError(f"no route answered 200 within {timeout} s of the fault")


def assert_errors_are_503_problems(answers: list[tuple[str, int, str, str | None, Any]],
                                   server: Server) -> None:
    for kind, status, content_type, retry_after, body in answers:
        if status == 200:
            continue
        assert status == 503, (kind, status, body, server.log.read_text()[-6000:])
        assert content_type.startswith(PROBLEM), (kind, status, content_type)
        assert body["code"] == "database_unavailable", (kind, body)
        assert retry_after is not None and retry_after.isdigit(), (kind, retry_after)


def test_a_postgresql_crash_mid_load_loses_nothing_acknowledged_and_heals_itself(
        postgres: Postgres, server: Server) -> None:
    with Load(server) as load:
        time.sleep(1.5)
        acknowledged_before = load.ok("route")
        postgres.stop("immediate")  # a crash: no checkpoint, WAL replayed at start
        time.sleep(1.0)
        postgres.start()
        healed = wait_until_routing(server)
        time.sleep(1.0)
    assert server.process.poll() is None  # the same server, never restarted

    assert acknowledged_before > 0
    assert_errors_are_503_problems(load.answers, server)
    decided = {body["decision_id"] for kind, status, _, _, body in load.answers
               if kind == "route" and status == 200}
    evented = {body["ticket_id"] for kind, status, _, _, body in load.answers
               if kind == "event" and status == 200}
    assert len(decided) > acknowledged_before  # it routed again after the crash
    with server.db.connect() as conn:
        stored = set(conn.execute(select(decisions.c.id)).scalars())
        stored_events = set(conn.execute(select(ticket_events.c.ticket_id)).scalars())
    refused = sum(1 for _, status, *_ in load.answers if status != 200)
    print(f"\nfaults: crash mid-load: {len(decided)} decisions and {len(evented)} events "
          f"acknowledged, {refused} answers 503, routing again {healed} s after the start")
    assert decided <= stored, f"{len(decided - stored)} acknowledged decisions lost"
    assert evented <= stored_events, f"{len(evented - stored_events)} acknowledged events lost"


def test_a_frozen_database_leaves_health_answering_and_routes_refused_with_503(
        postgres: Postgres, server: Server) -> None:
    wait_until_routing(server)
    frozen = postgres.processes()
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        with server.client(timeout=20) as c:
            time.sleep(1.0)  # past the key cache's check interval: the route asks the database
            health = c.get("/v1/health")
            route = c.post("/v1/route", json={"category": "030102", "ticket_id": "FROZEN-1"})
            health_again = c.get("/v1/health")
            ready = c.get("/v1/health/ready")
        print(f"\nfaults: frozen: health {health.elapsed.total_seconds():.3f} s and "
              f"{health_again.elapsed.total_seconds():.3f} s, route 503 in "
              f"{route.elapsed.total_seconds():.2f} s, ready 503 in "
              f"{ready.elapsed.total_seconds():.2f} s")
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)

    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert health_again.status_code == 200
    assert route.status_code == 503, route.text
    assert route.headers["content-type"].startswith(PROBLEM)
    assert route.json()["code"] == "database_unavailable"
    assert route.headers["retry-after"].isdigit()
    assert ready.status_code == 503
    wait_until_routing(server)  # and it heals once the database runs again
