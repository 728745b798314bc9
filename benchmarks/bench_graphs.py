"""Graph views rendered to SVG: every view of the demo district (with the demo's history), and
the matrix map of the synthetic city's largest district.

    python -m benchmarks.bench_graphs

Targets (the issue): any view of the demo district to SVG <= 2 s; the matrix map of the
synthetic city's largest district <= 10 s. Each view is built from the live model and drawn
by the real Graphviz ``dot``; the time covers building the graph and rendering it (the
matrix is already loaded, as in a running server). Exits 1 on a miss.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from api import demo
from benchmarks._common import machine, table, utc_now

DEMO_TARGET_S = 2.0
CITY_TARGET_S = 10.0


async def _demo_views() -> list[list[Any]]:
    from api.app import create_app
    from api.auth import create_key
    from api.demo.history import seed
    from api.graphs import render_view
    from api.routes.matrix import import_document
    from api.settings import AppSettings

    class Cli:
        actor = "bench:graphs"

        def require(self, *roles: str) -> None:
            return None

    folder = Path(tempfile.mkdtemp(prefix="quanze-graphs-"))
    app = create_app(AppSettings(database_url=f"sqlite:///{folder / 'demo.db'}"))
    rows: list[list[Any]] = []
    async with app.router.lifespan_context(app):
        services = app.state.services
        import_document(services, Cli(), demo.district(), "merge", "demo")
        with services.db.begin() as conn:
            key = create_key(conn, role="admin", name="bench", unit=None, now=utc_now())
        await seed(app, key, now=utc_now())
        matrix = services.router.current()
        with services.db.connect() as conn:
            from sqlalchemy import select

            from arbitration.tables import rulings, tickets
            ticket_id = conn.execute(select(tickets.c.ticket_id)
                                     .where(tickets.c.dispute_id.is_not(None))).scalar()
            ruling_id = conn.execute(select(rulings.c.id)).scalar()
        j = matrix.jurisdiction
        busiest = Counter(r.lead for r in matrix.rules.values() if r.lead in j.units)
        views = [("unit", busiest.most_common(1)[0][0]), ("unit", "JD-HP"),
                 ("category", "03"), ("category", "0301"), ("category", "030101"),
                 ("area", "110199001"), ("matrix", "110199"), ("hotspots", None),
                 ("ticket", ticket_id), ("lineage", ruling_id)]
        for view, focus in views:
            started = time.perf_counter()
            body, _ = render_view(matrix, view, focus, "svg", at=utc_now(), db=services.db)
            took = time.perf_counter() - started
            rows.append([f"demo {view} {focus or ''}".strip(), f"{took:.2f} s",
                         f"{len(body) / 1024:.0f} KB", "meets" if took <= DEMO_TARGET_S
                         else "MISSES"])
    return rows


def _city_matrix() -> list[list[Any]]:
    from api.graphs import render_view
    from benchmarks.synthetic_city import make_city
    from jurisdiction.model import AreaLevel, Jurisdiction
    from rules.bundle import parse_bundle
    from rules.store import Matrix

    bundle = parse_bundle(make_city(districts=16))
    j = Jurisdiction.build(bundle.units, bundle.areas, bundle.categories)
    assert bundle.settings is not None
    matrix = Matrix.build(1, j, {r.id: r for r in bundle.rules}, bundle.settings)
    townships = Counter(a.parent for a in j.areas.values() if a.level is AreaLevel.TOWNSHIP)
    district, count = townships.most_common(1)[0]
    assert district is not None
    started = time.perf_counter()
    body, _ = render_view(matrix, "matrix", district, "svg", at=utc_now())
    took = time.perf_counter() - started
    cells = count * len(j.category_leaves())
    return [[f"city matrix {district} ({count} townships × {len(j.category_leaves())} "
             f"leaves = {cells:,} cells)", f"{took:.2f} s", f"{len(body) / 2**20:.1f} MB",
             "meets" if took <= CITY_TARGET_S else "MISSES"]]


def main() -> int:
    print(machine())
    rows = asyncio.run(_demo_views()) + _city_matrix()
    print(table(rows, ["view → SVG", "time", "size", "target"]))
    return 1 if any(r[-1] == "MISSES" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
