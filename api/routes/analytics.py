"""Read-only analytics for the dashboard: each page's figures from the roll-up tables.

A company sees only its own numbers (secret key or signed-in user); the platform admin token
sees every company, or one with `company_id`. Reads never scan messages: they sum roll-ups.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from api.deps import Credentials, RuntimeDep, SessionDep
from api.schemas import Strict
from helpdeck.analytics import queries
from helpdeck.analytics.schedule import refresh_now
from helpdeck.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from helpdeck.tables import Company

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])
MAX_DAYS = 366


class Viewer(BaseModel):
    """Whose numbers a caller may see: one company, or (platform admin) any."""

    company_id: uuid.UUID | None
    is_admin: bool


async def get_viewer(request: Request, session: SessionDep, runtime: RuntimeDep, credentials: Credentials) -> Viewer:
    if credentials is None:
        raise Unauthorized("send a company secret key, a session token or the admin token")
    token = runtime.settings.admin_token
    if token and hmac.compare_digest(credentials.credentials.encode(), token.encode()):
        return Viewer(company_id=None, is_admin=True)
    from api.agent_deps import get_actor

    actor = await get_actor(request, session, credentials)
    if actor.role == "publishable_key":
        raise Forbidden("analytics need a secret key (hd_sk_…) or a signed-in user")
    return Viewer(company_id=actor.company_id, is_admin=False)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


def _window(
    viewer: Viewer, first: date | None, last: date | None, channel: str | None, company_id: uuid.UUID | None
) -> queries.Window:
    last = last or datetime.now(UTC).date()
    first = first or last - timedelta(days=29)
    if first > last:
        raise InvalidInput("'from' must not be after 'to'", code="invalid_range")
    if (last - first).days >= MAX_DAYS:
        raise InvalidInput(f"a range covers at most {MAX_DAYS} days", code="invalid_range")
    if viewer.is_admin:
        scope = company_id
    else:
        if company_id is not None and company_id != viewer.company_id:
            raise NotFound("no such company")
        scope = viewer.company_id
    return queries.Window(scope, first, last, channel or None)


def window_dep(
    viewer: ViewerDep,
    first: Annotated[
        date | None, Query(alias="from", description="first day (UTC), default 29 days before 'to'")
    ] = None,
    last: Annotated[date | None, Query(alias="to", description="last day (UTC), default today")] = None,
    channel: Annotated[str | None, Query(max_length=32)] = None,
    company_id: Annotated[uuid.UUID | None, Query(description="platform admin only: one company")] = None,
) -> queries.Window:
    return _window(viewer, first, last, channel, company_id)


WindowDep = Annotated[queries.Window, Depends(window_dep)]


class Report(BaseModel):
    company_id: uuid.UUID | None = Field(description="null: every company (platform admin)")
    first_day: date
    last_day: date
    channel: str | None
    summary: dict[str, Any]
    tables: dict[str, list[dict[str, Any]]]


def _report(window: queries.Window, body: dict) -> Report:
    return Report(
        company_id=window.company_id,
        first_day=window.first_day,
        last_day=window.last_day,
        channel=window.channel,
        summary=body["summary"],
        tables=body["tables"],
    )


@router.get("/overview", response_model=Report)
async def overview(window: WindowDep, session: SessionDep) -> Report:
    """Conversations, messages, active users, resolution and escalation rates, CSAT, cost."""
    return _report(window, await queries.overview(session, window))


@router.get("/escalations", response_model=Report)
async def escalations(window: WindowDep, session: SessionDep) -> Report:
    """Escalations by reason, wait times and SLA breaches."""
    return _report(window, await queries.escalations(session, window))


@router.get("/knowledge-gaps", response_model=Report)
async def knowledge_gaps(window: WindowDep, session: SessionDep) -> Report:
    """Questions the bot could not ground in the knowledge base, clustered by topic."""
    return _report(window, await queries.knowledge_gaps(session, window))


@router.get("/quality", response_model=Report)
async def quality(window: WindowDep, session: SessionDep) -> Report:
    """Thumbs up and down, answer rate, the latest thumbs-down with their conversations, and
    clicks on cited sources per document."""
    return _report(window, await queries.quality(session, window))


@router.get("/cost", response_model=Report)
async def cost(window: WindowDep, session: SessionDep) -> Report:
    """Tokens and spend by model and intent, cache savings, budget burn."""
    budget = None
    if window.company_id is not None:
        company = await session.get(Company, window.company_id)
        settings = company.settings if company else {}
        monthly, daily = settings.get("monthly_budget_usd"), settings.get("daily_budget_usd")
        # The routing budget is daily (helpdeck/answers/routing.py); burn is read at a monthly pace.
        if isinstance(monthly, int | float):
            budget = float(monthly)
        elif isinstance(daily, int | float):
            budget = float(daily) * 30
    return _report(window, await queries.cost(session, window, budget))


@router.get("/latency", response_model=Report)
async def latency(window: WindowDep, session: SessionDep) -> Report:
    """p50, p95 and p99 latency by step (total, retrieve, rerank, generate), and by day."""
    return _report(window, await queries.latency(session, window))


class RefreshRequest(Strict):
    first_day: date | None = Field(None, alias="from")
    last_day: date | None = Field(None, alias="to")


class RefreshOut(BaseModel):
    first_day: date
    last_day: date
    rows: dict[str, int]


@router.post("/refresh", response_model=RefreshOut)
async def refresh(
    viewer: ViewerDep, runtime: RuntimeDep, session: SessionDep, body: RefreshRequest | None = None
) -> RefreshOut:
    """Rebuild the roll-ups now (the schedule does it every few minutes anyway)."""
    body = body or RefreshRequest()
    window = _window(viewer, body.first_day, body.last_day, None, None)
    await session.commit()  # hand the connection back while the workflow runs
    company = str(window.company_id) if window.company_id else None
    rows = await refresh_now(
        runtime.temporal, runtime.settings, company, window.first_day.isoformat(), window.last_day.isoformat()
    )
    return RefreshOut(first_day=window.first_day, last_day=window.last_day, rows=rows)
