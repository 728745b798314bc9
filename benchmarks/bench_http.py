"""HTTP throughput of POST /v1/route against the app's no-op JSON endpoint (GET /v1/health).

    python -m benchmarks.bench_http [--database-url URL] [--client wrk|httpx] [--city]

Loads the demo district (api/demo/district.json; ``--city`` for the 16-district synthetic
city) into a fresh database, creates an admin key, starts ``uvicorn --factory
api.app:create_app`` (one worker) on 127.0.0.1 and a free port, and then drives both
endpoints with ONE client at a fixed concurrency for the same duration, alternating
health/route for ``--rounds`` rounds in the same run. Every request carries the same
Authorization header. /v1/route stores each decision (one INSERT per request), as in service.

The client is wrk (keep-alive, one thread, ``--connections`` connections, a Lua script for the
POST bodies) when it is installed, else httpx (a keep-alive pool shared by as many threads
as connections). Only 127.0.0.1 is targeted; every run is bounded by ``--duration``.

Target (the issue): route requests/s >= 50 % of health requests/s. Exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from api import demo
from benchmarks._common import (
    admin_key,
    fresh_database,
    load_bundle,
    machine,
    percentile,
    rss_mb,
    table,
    verdict,
)
from benchmarks.synthetic_city import make_city, make_tickets

RATIO_TARGET = 0.5
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, QUANZE_DATABASE_URL=url)
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app",
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--log-level", "warning", "--no-access-log"]
    return subprocess.Popen(cmd, env=env, cwd=ROOT)


def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not answer within {timeout:.0f} s")


# -- wrk -------------------------------------------------------------------------------------

_LUA = """
local bodies = {%(bodies)s}
local i = 0
wrk.method = "%(method)s"
wrk.headers["Authorization"] = "Bearer %(key)s"
wrk.headers["Content-Type"] = "application/json"
request = function()
  if #bodies == 0 then return wrk.format(nil, "%(path)s") end
  i = i %% #bodies + 1
  return wrk.format(nil, "%(path)s", nil, bodies[i])
end
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _lua(method: str, path: str, key: str, bodies: list[str]) -> str:
    quoted = ",\n".join(f"[==[{b}]==]" for b in bodies)
    return _LUA % {"bodies": quoted, "method": method, "key": key, "path": path}


def run_wrk(base: str, method: str, path: str, key: str, bodies: list[str], *,
            connections: int, duration: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(_lua(method, path, key, bodies))
        script = f.name
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", "-s", script,
             base], capture_output=True, text=True, check=True,
            timeout=duration + 30).stdout
    finally:
        os.unlink(script)
    latency = {m.group(1): float(m.group(2)) * _UNITS[m.group(3)]
               for m in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    requests = re.search(r"(\d+) requests in", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
            "requests": float(requests.group(1)) if requests else 0.0,
            "p50": latency.get("50", float("nan")), "p90": latency.get("90", float("nan")),
            "p99": latency.get("99", float("nan")),
            "non2xx": float(bad.group(1)) if bad else 0.0,
            "socket_errors": 1.0 if errors else 0.0}


# -- httpx -----------------------------------------------------------------------------------

def run_httpx(base: str, method: str, path: str, key: str, bodies: list[str], *,
              connections: int, duration: float) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    latencies: list[list[float]] = [[] for _ in range(connections)]
    failures = [0] * connections
    with httpx.Client(base_url=base, headers=headers, limits=limits, timeout=10) as client:
        deadline = time.perf_counter() + duration

        def worker(n: int) -> None:
            i = n
            sink = latencies[n]
            while True:
                t0 = time.perf_counter()
                if t0 >= deadline:
                    return
                content = bodies[i % len(bodies)].encode() if bodies else None
                i += connections
                r = client.request(method, path, content=content)
                sink.append((time.perf_counter() - t0) * 1e3)
                if r.status_code >= 300:
                    failures[n] += 1

        started = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    merged = sorted(x for sink in latencies for x in sink)
    return {"rps": len(merged) / elapsed, "requests": float(len(merged)),
            "p50": percentile(merged, 50), "p90": percentile(merged, 90),
            "p99": percentile(merged, 99), "non2xx": float(sum(failures)),
            "socket_errors": 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a temp SQLite file")
    parser.add_argument("--city", action="store_true",
                        help="serve the 16-district synthetic city instead of the demo")
    parser.add_argument("--client", choices=("wrk", "httpx"),
                        default="wrk" if shutil.which("wrk") else "httpx")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (≤ 60)")
    parser.add_argument("--rounds", type=int, default=2, help="health/route pairs (≤ 5)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds per endpoint")
    args = parser.parse_args(argv)
    if not (0 < args.duration <= 60 and 0 < args.rounds <= 5 and 0 < args.connections <= 64):
        parser.error("bounded runs only: --duration ≤ 60, --rounds ≤ 5, --connections ≤ 64")

    bundle = make_city() if args.city else demo.district()
    bodies = [json.dumps(t, ensure_ascii=False) for t in make_tickets(bundle, 200, seed=5)]
    run = run_wrk if args.client == "wrk" else run_httpx

    with fresh_database(args.database_url) as url:
        load_bundle(url, bundle)
        key = admin_key(url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start_server(url, port)
        try:
            wait_ready(base, proc, timeout=120)
            check = httpx.post(f"{base}/v1/route", content=bodies[0].encode(), timeout=120,
                               headers={"Authorization": f"Bearer {key}",
                                        "Content-Type": "application/json"})
            if check.status_code != 200:
                raise SystemExit(f"/v1/route answered {check.status_code}: {check.text[:300]}")
            endpoints = {"GET /v1/health": ("GET", "/v1/health", []),
                         "POST /v1/route": ("POST", "/v1/route", bodies)}
            for method, path, b in endpoints.values():
                run(base, method, path, key, b, connections=args.connections,
                    duration=args.warmup)
            results: dict[str, list[dict[str, float]]] = {k: [] for k in endpoints}
            for _ in range(args.rounds):
                for name, (method, path, b) in endpoints.items():
                    results[name].append(run(base, method, path, key, b,
                                             connections=args.connections,
                                             duration=args.duration))
            server_rss = rss_mb(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    print(f"machine: {machine()}; database: {url.split(':', 1)[0]}; "
          f"matrix: {'synthetic city' if args.city else 'demo district'}; client: "
          f"{args.client}, {args.connections} connections, {args.rounds} × {args.duration:g} s "
          "per endpoint")
    rows = []
    for name, runs in results.items():
        for i, r in enumerate(runs, 1):
            rows.append([name, i, f"{r['rps']:,.0f}", f"{r['requests']:,.0f}",
                         f"{r['p50']:.2f}", f"{r['p90']:.2f}", f"{r['p99']:.2f}",
                         f"{r['non2xx']:.0f}"])
    print(table(rows, ["endpoint", "round", "requests/s", "requests", "p50 ms", "p90 ms",
                       "p99 ms", "non-2xx"]))
    health = sum(r["rps"] for r in results["GET /v1/health"]) / args.rounds
    route = sum(r["rps"] for r in results["POST /v1/route"]) / args.rounds
    ratio = route / health
    failed = any(r["non2xx"] or r["socket_errors"] for runs in results.values() for r in runs)
    ok = ratio >= RATIO_TARGET and not failed
    print()
    print(table([["route / health requests/s (mean of rounds)",
                  f"{route:,.0f} / {health:,.0f} = {ratio:.2f}",
                  f"≥ {RATIO_TARGET:.2f}: {verdict(ratio >= RATIO_TARGET)}"],
                 ["server RSS at the end", f"{server_rss:,.0f} MB", ""],
                 ["errors (non-2xx, socket)", "yes" if failed else "none", ""]],
                ["figure", "value", "target"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
