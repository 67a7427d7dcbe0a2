"""Activities that rebuild the analytics roll-ups in PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from temporalio import activity

from helpdeck.analytics.rollups import refresh_rollups
from helpdeck.db import Database


@dataclass
class RefreshRollupsInput:
    first_day: str  # ISO dates, UTC
    last_day: str
    company_id: str | None = None  # None: every company


class AnalyticsActivities:
    def __init__(self, db: Database) -> None:
        self.db = db

    @activity.defn
    async def refresh_rollups(self, params: RefreshRollupsInput) -> dict[str, int]:
        company = uuid.UUID(params.company_id) if params.company_id else None
        async with self.db.session() as session:
            return await refresh_rollups(
                session, company, date.fromisoformat(params.first_day), date.fromisoformat(params.last_day)
            )
