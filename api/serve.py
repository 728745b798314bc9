"""``quanze serve --workers N``: N server processes on one port, each a full app.

Each worker binds a listening socket of its own on the same address with ``SO_REUSEPORT``;
the kernel spreads new connections over them. uvicorn's own ``--workers`` shares one socket
made by the parent, created without the TCP protocol number, so asyncio never sets
``TCP_NODELAY`` on the accepted connections and every answer waits for the peer's delayed
ACK: ~44 ms a request (uvicorn issue 3149). A socket made here names ``IPPROTO_TCP``, so
asyncio (and uvloop) set it as for a single server.

Each worker is a whole app with its own database pool, ``Router`` and durable_rules engine
(the engine can be shared neither between threads nor processes); every state is read from
the database, and each router follows the versions that others commit, so the workers need
nothing from each other. The parent applies the migrations once, starts the workers,
restarts one that dies, and stops them all on SIGTERM or SIGINT (each finishes the requests
it holds: uvicorn's graceful shutdown, then the app's lifespan writes the decisions queued).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType

log = logging.getLogger("quanze.serve")

#: seconds a stopping worker gets to finish its requests before it is killed
STOP_TIMEOUT = 30.0
#: a worker that dies sooner than this after starting is restarted only after a pause
QUICK_DEATH = 5.0


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    log_level: str = "info"
    access_log: bool = True


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP listening socket that other processes may bind too (``SO_REUSEPORT``).

    The protocol is named (``IPPROTO_TCP``): asyncio sets ``TCP_NODELAY`` only on
    connections accepted from a socket whose ``proto`` says TCP."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def run_worker(options: ServeOptions) -> None:
    """One worker: its own socket on the shared port, its own app (migrations are the
    parent's). Runs until SIGTERM or SIGINT, which uvicorn turns into a graceful stop."""
    import uvicorn

    from api.app import create_app

    _stop_when_orphaned(os.getppid())
    sock = listening_socket(options.host, options.port)
    config = uvicorn.Config(create_app(migrate=False), log_level=options.log_level,
                            access_log=options.access_log, timeout_graceful_shutdown=25)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def _stop_when_orphaned(parent: int) -> None:
    """SIGTERM to this worker (a graceful stop) once its parent is gone: a parent killed
    with SIGKILL cannot stop its workers, which would go on serving the port."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="quanze-parent-watch", daemon=True).start()


def serve(options: ServeOptions, workers: int) -> int:
    """Run ``workers`` worker processes on ``options``' address until SIGTERM or SIGINT;
    returns the exit code (0 after a clean stop)."""
    from api.db import make_engine, upgrade
    from api.settings import AppSettings

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    # The port is tried here first, so a port in use fails once, not in a restart loop.
    try:
        listening_socket(options.host, options.port).close()
    except OSError as exc:
        print(f"错误：无法在 {options.host}:{options.port} 上监听（{exc.strerror}）",
              file=sys.stderr)
        return 1
    db = make_engine(AppSettings().database_url)
    if db.dialect.name == "sqlite":
        log.warning("SQLite lets one process write at a time: more workers add little; "
                    "use PostgreSQL for several workers or replicas")
    try:
        upgrade(db)  # once, before the workers: N processes migrating at once would race
    finally:
        db.dispose()

    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    slots: list[tuple[BaseProcess, float]] = []

    def start() -> tuple[BaseProcess, float]:
        process = context.Process(target=run_worker, args=(options,), name="quanze-worker",
                                  daemon=False)
        process.start()
        log.info("started worker %s on %s:%s", process.pid, options.host, options.port)
        return process, time.monotonic()

    try:
        slots = [start() for _ in range(workers)]
        while not stopping:
            time.sleep(0.2)
            for i, (process, started) in enumerate(slots):
                if process.is_alive() or stopping:
                    continue
                log.warning("worker %s exited with %s; starting another", process.pid,
                            process.exitcode)
                process.join()
                if time.monotonic() - started < QUICK_DEATH:
                    time.sleep(1.0)  # a worker that cannot start: do not spin
                if not stopping:
                    slots[i] = start()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _stop_all([process for process, _ in slots])
    return 0


def _stop_all(processes: list[BaseProcess]) -> None:
    for process in processes:
        if process.is_alive() and process.pid is not None:
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            log.warning("worker %s did not stop in %.0f s; killing it", process.pid,
                        STOP_TIMEOUT)
            process.kill()
            process.join()
    log.info("stopped %d workers", len(processes))
    sys.stderr.flush()
