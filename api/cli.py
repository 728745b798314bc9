"""The ``quanze`` command (contract.md, Commands)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from api import demo
from api.db import make_engine, upgrade
from api.deps import utc_now
from api.settings import AppSettings
from jurisdiction.errors import BundleInvalid, QuanzeError


def _settings() -> AppSettings:
    return AppSettings()


@contextmanager
def _services() -> Iterator[Any]:
    """The app's services for one command, closed when it ends."""
    from api.deps import Services
    from rules.service import Router

    settings = _settings()
    db = make_engine(settings.database_url)
    router = Router(db, refresh_interval=0.0)
    try:
        upgrade(db)
        yield Services(db=db, router=router, settings=settings)
    finally:
        router.close()
        db.dispose()


class _Cli:
    """A caller for writes made from the shell."""

    def __init__(self) -> None:
        self.actor = f"cli:{os.environ.get('USER', 'admin')}"

    def require(self, *roles: str) -> None:
        return None


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.auth import create_key
    from api.routes.matrix import import_document

    with _services() as services:
        fresh = not services.router.current().rules
        if fresh:
            report = import_document(services, _Cli(), demo.district(), "merge",
                                     "demo district")
            print(f"loaded the demo district: rule-set version {report['ruleset_version']}, "
                  f"{report['added']['rules']} rules, {report['added']['units']} units")
        else:
            print("the database already holds a matrix; serving it as it is")
        with services.db.begin() as conn:
            key = create_key(conn, role="admin", name="demo", unit=None, now=utc_now())
    if fresh:
        counts = asyncio.run(_seed_history(key))
        print(f"made demo history through the API: {counts['tickets']} tickets, "
              f"{counts['disputes']} disputes, {counts['rulings']} ruling")
    url = f"http://{args.host}:{args.port}"
    print(f"quanze demo: {url}  (API docs: {url}/docs)")
    print(f"admin key:   {key}")
    sys.stdout.flush()
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")
    return 0


async def _seed_history(key: str) -> dict[str, int]:
    from api.app import create_app
    from api.demo.history import seed

    app = create_app()
    async with app.router.lifespan_context(app):
        return await seed(app, key, now=utc_now())


def cmd_import(args: argparse.Namespace) -> int:
    from api.routes.matrix import import_document
    from rules.dutylist import read_duty_list

    path = Path(args.path)
    notes: list[str] = []
    with _services() as services:
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                print(f"error: cannot read {path}: {exc}", file=sys.stderr)
                return 2
        elif path.suffix.lower() in (".xlsx", ".csv"):
            j = services.router.current().jurisdiction
            known = {u.name: u.code for u in j.units.values()} | {c: c for c in j.units}
            data = read_duty_list(path, known_units=known, notes=notes,
                                  unit_kinds={u.code: u.kind.value for u in j.units.values()})
        else:
            print(f"error: {path}: use a .json bundle or an .xlsx/.csv duty list", file=sys.stderr)
            return 2
        report = import_document(services, _Cli(), data, args.mode, path.name)
        _print_report(report)
        for note in notes:  # what the importer decided beyond the rows (部门事项 …)
            print(f"  {note}")
        return 0


def _print_report(report: dict[str, Any]) -> None:
    if report["ruleset_version"] == report["previous_version"]:
        print(f"nothing changed (rule-set version {report['ruleset_version']})")
    else:
        print(f"rule-set version {report['previous_version']} → {report['ruleset_version']}")
    for kind in ("units", "areas", "categories", "rules", "settings"):
        print(f"  {kind:<11} added {report['added'][kind]:>5}  changed "
              f"{report['changed'][kind]:>5}  retired {report['retired'][kind]:>5}  "
              f"unchanged {report['unchanged'][kind]:>5}")
    print("  rejected        0")


def cmd_export(args: argparse.Namespace) -> int:
    from rules.bundle import dump_bundle

    path = Path(args.path)
    with _services() as services:
        m = services.router.current()
        bundle = dump_bundle(m.jurisdiction, m.rules.values(), m.settings)
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps(bundle, ensure_ascii=False, indent=1), encoding="utf-8")
        elif path.suffix.lower() == ".xlsx":
            from rules.dutylist import write_duty_list

            write_duty_list(bundle, path)
        else:
            print(f"error: {path}: export to .json or .xlsx", file=sys.stderr)
            return 2
        print(f"wrote rule-set version {m.version} ({len(m.rules)} rules) to {path}")
        return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from rules.verification import verify

    with _services() as services:
        report = verify(services.router.current(), utc_now())
        if args.json:
            print(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
        else:
            print(f"rule-set version {report.version}: {report.cells} category×township cells "
                  f"{report.cells_by_status}")
            for f in report.findings:
                ids = f" [{', '.join(f.rule_ids)}]" if f.rule_ids else ""
                print(f"{f.severity:<7} {f.code:<22} {f.message}{ids}")
            print("counts:", json.dumps(report.counts(), ensure_ascii=False))
        return 1 if report.has_errors else 0


def cmd_route(args: argparse.Namespace) -> int:
    from rules.service import decision_document, new_decision_id, ticket_from_request

    attributes: dict[str, str] = {}
    for item in args.attr or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"error: --attr {item!r}: use key=value", file=sys.stderr)
            return 2
        attributes[key] = value
    with _services() as services:
        request = {"category": args.category, "area": args.area, "attributes": attributes,
                   "text": args.text or "", "as_of": args.as_of}
        ticket = ticket_from_request(request, utc_now())
        matrix, decision = services.router.decide(ticket)
        doc = decision_document(decision, matrix, decision_id=new_decision_id(), ticket=ticket)
        print(json.dumps(doc, ensure_ascii=False, indent=1))
        return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    from api.auth import create_key

    with _services() as services:
        if args.unit and args.unit not in services.router.current().jurisdiction.units:
            print(f"error: --unit {args.unit!r} is not a known unit", file=sys.stderr)
            return 2
        with services.db.begin() as conn:
            key = create_key(conn, role=args.role, name=args.name or args.role, unit=args.unit,
                             now=utc_now())
        print(f"created a {args.role} key; it is shown only once:")
        print(key)
        return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from arbitration.audit import verify_log

    with _services() as services, services.db.connect() as conn:
        count, problems = verify_log(conn)
    for p in problems:
        print(f"entry {p.seq}: {p.problem}")
    if problems:
        print(f"audit log BROKEN: {len(problems)} problem(s) in {count} entries")
        return 1
    print(f"audit log intact: {count} entries, hash chain verified")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from api.graphs import render_view

    out = Path(args.out)
    fmt = out.suffix.lower().lstrip(".")
    with _services() as services:
        body, _ = render_view(services.router.current(), args.view, args.focus, fmt,
                              at=utc_now(), category=args.category, db=services.db,
                              start=args.start, end=args.end, unit_kind=args.unit_kind,
                              district=args.district)
    out.write_bytes(body)
    print(f"wrote the {args.view} view to {out} ({len(body)} bytes)")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings()
    upgrade(make_engine(settings.database_url))
    print(f"database at {settings.database_url} is up to date")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="quanze", description="quanze (权责): responsibility "
                                "routing and arbitration for 12345 hotlines")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the HTTP API and staff pages")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.set_defaults(func=cmd_serve)
    s = sub.add_parser("demo", help="load the demo district (if empty) and serve it")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.set_defaults(func=cmd_demo)
    s = sub.add_parser("import", help="load a bundle (.json) or duty list (.xlsx/.csv)")
    s.add_argument("path")
    s.add_argument("--mode", choices=("merge", "replace"), default="merge")
    s.set_defaults(func=cmd_import)
    s = sub.add_parser("export", help="write the matrix as a bundle (.json) or duty list")
    s.add_argument("path")
    s.set_defaults(func=cmd_export)
    s = sub.add_parser("verify", help="check the matrix; exit 1 on errors")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_verify)
    s = sub.add_parser("route", help="route one ticket and print the decision")
    s.add_argument("--category", required=True)
    s.add_argument("--area")
    s.add_argument("--attr", action="append", metavar="K=V")
    s.add_argument("--text")
    s.add_argument("--as-of", dest="as_of")
    s.set_defaults(func=cmd_route)
    keys = sub.add_parser("keys", help="API keys").add_subparsers(dest="keys", required=True)
    s = keys.add_parser("create", help="create an API key (printed as the last line)")
    s.add_argument("--role", required=True)
    s.add_argument("--unit")
    s.add_argument("--name")
    s.set_defaults(func=cmd_keys_create)
    s = sub.add_parser("graph", help="render a responsibility graph")
    s.add_argument("--view", required=True)
    s.add_argument("--focus")
    s.add_argument("--category")
    s.add_argument("--unit-kind", dest="unit_kind", help="show units of one kind")
    s.add_argument("--district", help="category view: one district's townships")
    s.add_argument("--from", dest="start", help="hotspots: period start (date or ISO time)")
    s.add_argument("--to", dest="end", help="hotspots: period end")
    s.add_argument("--out", required=True, help="FILE.svg | .png | .dot | .json")
    s.set_defaults(func=cmd_graph)
    audit = sub.add_parser("audit", help="the audit log").add_subparsers(dest="audit",
                                                                        required=True)
    s = audit.add_parser("verify", help="check the hash chain; exit 1 if broken")
    s.set_defaults(func=cmd_audit_verify)
    db = sub.add_parser("db", help="database").add_subparsers(dest="db", required=True)
    s = db.add_parser("upgrade", help="apply migrations")
    s.set_defaults(func=cmd_db_upgrade)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except BundleInvalid as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        for p in exc.problems:
            where = f"{p.location}" + (f" [{p.field}]" if p.field else "")
            print(f"  {where}: {p.message}", file=sys.stderr)
        return 1
    except QuanzeError as exc:
        print(f"error ({exc.code}): {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
