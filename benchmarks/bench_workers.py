"""``quanze serve --workers N``: POST /v1/route throughput with 1 and 2 workers, one run.

    python -m benchmarks.bench_workers [--database-url URL] [--duration 8] [--extras PATH]

Loads the demo district into a fresh database (a temp SQLite file, and with
``--database-url`` also a new schema of that PostgreSQL database), creates an admin key, and
for each database starts ``python -m api.cli serve --workers N`` on a free port of 127.0.0.1
for N = 1 and 2 (and, for comparison, ``uvicorn --workers 2`` on its shared socket), waits
until every worker answers, and drives /v1/route with wrk (one thread, ``--connections``
keep-alive connections, 200 different demo tickets) for ``--duration`` seconds after a 2 s
warm-up. Each request stores its decision, as in service. ``--extras PATH`` puts PATH on the
servers' PYTHONPATH (a directory holding httptools and uvloop, which uvicorn then uses).

Targets, on PostgreSQL (the production database; SQLite has one writer at a time, so its
figures are reported, not judged): 2 workers route ≥ 1.2 × the requests/s of 1 worker, and
a median latency under 10 ms with 2 workers (uvicorn's shared socket loses TCP_NODELAY:
~44 ms a request). Without ``--database-url`` the SQLite run is judged instead. Exits 1 on
a miss or on any error response.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from api import demo
from benchmarks._common import admin_key, fresh_database, load_bundle, machine, table, verdict
from benchmarks.bench_http import free_port, run_wrk
from benchmarks.synthetic_city import make_tickets

ROOT = Path(__file__).resolve().parent.parent
SCALE_TARGET = 1.2
P50_TARGET_MS = 10.0


def start(kind: str, workers: int, url: str, port: int, extras: str | None
          ) -> subprocess.Popen[bytes]:
    path = [str(ROOT)] + ([extras] if extras else [])
    env = dict(os.environ, QUANZE_DATABASE_URL=url, PYTHONPATH=os.pathsep.join(path))
    if kind == "quanze":
        cmd = [sys.executable, "-m", "api.cli", "serve", "--workers", str(workers),
               "--port", str(port)]
    else:
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app",
               "--port", str(port), "--workers", str(workers), "--log-level", "warning",
               "--no-access-log"]
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def wait_workers(base: str, proc: subprocess.Popen[bytes], workers: int,
                 timeout: float = 180) -> None:
    """Until ``workers`` distinct processes answered /v1/health (new connection each)."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            with httpx.Client(timeout=2) as client:
                answer = client.get(f"{base}/v1/health")
            if answer.status_code == 200:
                seen.add(answer.headers.get("x-quanze-worker", "?"))
                if len(seen) >= workers:
                    return
                continue
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{workers} workers did not answer within {timeout:.0f} s ({seen})")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL URL: measured besides SQLite")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per run (≤ 60)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--extras", help="a directory added to the servers' PYTHONPATH")
    args = parser.parse_args(argv)
    if not (0 < args.duration <= 60 and 0 < args.connections <= 64):
        parser.error("bounded runs only: --duration ≤ 60, --connections ≤ 64")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt-get install -y wrk)")
    bundle = demo.district()
    bodies = [json.dumps(t, ensure_ascii=False) for t in make_tickets(bundle, 200, seed=5)]
    runs = [("quanze", 1), ("quanze", 2), ("uvicorn", 2)]
    rows: list[list[str]] = []
    failed = False
    scaled: list[tuple[str, float, float]] = []
    for database in [None] + ([args.database_url] if args.database_url else []):
        with fresh_database(database) as url:
            load_bundle(url, bundle)
            key = admin_key(url)
            dialect = url.split(":", 1)[0].split("+", 1)[0]
            rps: dict[tuple[str, int], float] = {}
            p50: dict[tuple[str, int], float] = {}
            for kind, workers in runs:
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                proc = start(kind, workers, url, port, args.extras)
                try:
                    wait_workers(base, proc, workers if kind == "quanze" else 1)
                    run_wrk(base, "POST", "/v1/route", key, bodies,
                            connections=args.connections, duration=2)
                    r = run_wrk(base, "POST", "/v1/route", key, bodies,
                                connections=args.connections, duration=args.duration)
                finally:
                    stop(proc)
                rps[kind, workers], p50[kind, workers] = r["rps"], r["p50"]
                failed |= bool(r["non2xx"] or r["socket_errors"])
                label = ("quanze serve" if kind == "quanze" else "uvicorn (shared socket)")
                rows.append([dialect, f"{label} --workers {workers}", f"{r['rps']:,.0f}",
                             f"{r['p50']:.2f}", f"{r['p99']:.2f}", f"{r['non2xx']:.0f}",
                             f"{os.getloadavg()[0]:.1f}"])
            scaled.append((dialect, rps["quanze", 2] / rps["quanze", 1], p50["quanze", 2]))
    print(f"machine: {machine()}; demo district; wrk 1 thread, {args.connections} "
          f"connections, {args.duration:g} s per run; extras: {args.extras or 'none'}")
    print(table(rows, ["database", "server", "route requests/s", "p50 ms", "p99 ms",
                       "non-2xx", "load avg"]))
    print()
    verdicts = []
    ok = not failed
    judged = {"postgresql"} if args.database_url else {"sqlite"}
    for dialect, ratio, median in scaled:
        good = ratio >= SCALE_TARGET and median < P50_TARGET_MS
        if dialect not in judged:
            verdicts.append([dialect, f"{ratio:.2f}", f"{median:.2f} ms", "reported"])
            continue
        ok &= good
        verdicts.append([dialect, f"{ratio:.2f}", f"{median:.2f} ms",
                         f"≥ {SCALE_TARGET} and < {P50_TARGET_MS:g} ms: {verdict(good)}"])
    print(table(verdicts, ["database", "2 workers ÷ 1 worker", "p50 with 2", "target"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
