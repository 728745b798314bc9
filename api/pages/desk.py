"""The arbitration desk (裁定台): the dispute queue. A unit's clerk sees only the disputes
their unit is a party to."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.pages.web import StaffDep, render, services_of
from arbitration import service
from arbitration.disputes import DisputeStatus

router = APIRouter(include_in_schema=False)


def category_choices(request: Request) -> list[tuple[str, str]]:
    """The first two levels of the category tree, for a filter: (code, indented name)."""
    j = services_of(request).router.current().jurisdiction
    out = []
    for code, category in sorted(j.categories.items()):
        depth = len(j.category_path(code))
        if depth <= 2:
            out.append((code, ("　" * (depth - 1)) + category.name))
    return out


@router.get("/disputes", response_class=HTMLResponse)
def queue(request: Request, staff: StaffDep,
          status: Annotated[str, Query(max_length=20)] = "",
          party: Annotated[str, Query(max_length=64)] = "",
          category: Annotated[str, Query(max_length=64)] = "",
          overdue: Annotated[str, Query(max_length=5)] = "",
          after: Annotated[str, Query(max_length=400)] = "") -> HTMLResponse:
    """争议队列: soonest deadline first, overdue marked; filters by status, party, category."""
    services = services_of(request)
    matrix = services.router.current()
    own = staff.unit if staff.role == "unit" else None
    with services.db.connect() as conn:
        page = service.list_disputes(
            conn, status=status or None, party=own or party or None,
            category=category or None, overdue=True if overdue == "1" else None,
            now=services.clock(), limit=50, after=after or None)
    units = matrix.jurisdiction.units
    parties = sorted(units.values(), key=lambda u: (str(u.kind), u.name))
    return render(request, "disputes.html", title="争议队列", disputes=page["disputes"],
                  next=page["next"], statuses=list(DisputeStatus), parties=parties,
                  categories=category_choices(request), own=own,
                  filters={"status": status, "party": party, "category": category,
                           "overdue": overdue})
