"""`quanze serve --workers N`: several processes answer on one port, a dead worker is
replaced, and SIGTERM to the parent stops them all (behaviour, not timing)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from api.serve import listening_socket
from tests.conftest import run_on_a_fresh_loop

ROOT = Path(__file__).resolve().parents[2]
#: generous bounds: the suite runs on two busy cores
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pids_answering(base: str, want: int, deadline: float) -> set[int]:
    """Worker pids seen over fresh connections (the kernel spreads new connections over
    the workers' sockets) until ``want`` distinct ones answered or the deadline passed."""
    seen: set[int] = set()
    while len(seen) < want and time.monotonic() < deadline:
        try:
            with httpx.Client(timeout=5) as client:  # a new connection each time
                answer = client.get(f"{base}/v1/health")
            if answer.status_code == 200:
                seen.add(int(answer.headers["x-quanze-worker"]))
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return seen


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = dict(os.environ, QUANZE_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
               PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--workers", "2", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            process.wait()


def test_two_workers_answer_on_one_port_and_sigterm_stops_them_all(
        server: tuple[subprocess.Popen[bytes], str]) -> None:
    process, base = server
    pids = pids_answering(base, 2, time.monotonic() + START_TIMEOUT)
    assert len(pids) == 2, f"answers came from {pids}"
    assert process.pid not in pids
    children = {p.pid for p in psutil.Process(process.pid).children(recursive=True)}
    assert pids <= children

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=STOP_TIMEOUT) == 0
    assert not [pid for pid in pids if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/v1/health", timeout=5)


def test_a_worker_that_dies_is_replaced_and_all_stop_when_the_parent_is_killed(
        server: tuple[subprocess.Popen[bytes], str]) -> None:
    process, base = server
    deadline = time.monotonic() + START_TIMEOUT
    pids = pids_answering(base, 2, deadline)
    assert len(pids) == 2
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)

    replaced: set[int] = set()
    while time.monotonic() < deadline + START_TIMEOUT:
        replaced = pids_answering(base, 2, time.monotonic() + 5) - {victim}
        if len(replaced) == 2:
            break
    assert len(replaced) == 2, f"after killing {victim}, answers came from {replaced}"
    assert process.poll() is None

    # The workers stop by themselves when the parent is killed (SIGKILL passes nothing on).
    process.kill()
    process.wait()
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline and any(_running(pid) for pid in replaced):
        time.sleep(0.2)
    left = [pid for pid in replaced if _running(pid)]
    for pid in left:  # not to leave them serving when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not left


@pytest.mark.parametrize(("proto", "nodelay"), [(socket.IPPROTO_TCP, True), (0, False)])
def test_connections_accepted_on_a_worker_socket_have_tcp_nodelay(proto: int,
                                                                   nodelay: bool) -> None:
    """asyncio sets TCP_NODELAY only on connections accepted from a socket whose protocol
    says TCP: the worker's socket names it; a socket made without it (as uvicorn's shared
    one, issue 3149) leaves Nagle's algorithm on, and every answer waits ~40 ms."""
    if proto:
        listener = listening_socket("127.0.0.1", 0)
    else:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, proto)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
    seen: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def accept_one() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    run_on_a_fresh_loop(accept_one())
    assert len(seen) == 1
    assert bool(seen[0]) is nodelay


def test_a_port_in_use_is_refused_at_once_not_retried(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = dict(os.environ, QUANZE_DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}",
                   PYTHONPATH=str(ROOT))
        done = subprocess.run(
            [sys.executable, "-m", "api.cli", "serve", "--workers", "2", "--port", str(port)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=STOP_TIMEOUT)
    assert done.returncode == 1
    assert f"无法在 127.0.0.1:{port} 上监听" in done.stderr


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
