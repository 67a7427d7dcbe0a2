"""AnalyticsRollupWorkflow: rebuild the dashboard's daily roll-ups for a window of days.

A Temporal Schedule runs it every few minutes for the last two days of every company; the API
runs it on demand for one company and any window. The work is one idempotent activity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.analytics import AnalyticsActivities, RefreshRollupsInput


@dataclass
class RollupInput:
    company_id: str | None = None  # None: every company
    days_back: int = 2  # today and the day before, unless first_day says otherwise
    first_day: str | None = None
    last_day: str | None = None


@workflow.defn
class AnalyticsRollupWorkflow:
    @workflow.run
    async def run(self, params: RollupInput) -> dict[str, int]:
        today = workflow.now().date()
        last_day = params.last_day or today.isoformat()
        first_day = params.first_day or (today - timedelta(days=params.days_back - 1)).isoformat()
        return await workflow.execute_activity_method(
            AnalyticsActivities.refresh_rollups,
            RefreshRollupsInput(first_day, last_day, params.company_id),
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=5),
            summary=f"rebuild roll-ups {first_day}..{last_day}",
        )
