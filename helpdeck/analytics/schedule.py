"""The Temporal Schedule that keeps the roll-ups fresh, and the on-demand refresh.

Both run AnalyticsRollupWorkflow; ids say what they are (`analytics-rollup`,
`analytics-refresh-<company>`), and a second on-demand request joins the running one.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)

from helpdeck.settings import Settings
from workflows.analytics import AnalyticsRollupWorkflow, RollupInput

log = logging.getLogger(__name__)
SCHEDULE_ID = "analytics-rollup"
KIND = TypedSearchAttributes([SearchAttributePair(SearchAttributeKey.for_keyword("HelpdeckKind"), "analytics")])


def _schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            AnalyticsRollupWorkflow.run,
            RollupInput(),
            id=SCHEDULE_ID,
            task_queue=settings.task_queue,
            typed_search_attributes=KIND,
            static_summary="rebuild analytics roll-ups (last 2 days, every company)",
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(minutes=settings.analytics_refresh_minutes))]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_rollup_schedule(client: Client, settings: Settings) -> None:
    """Create the schedule, or bring an existing one to the configured interval."""
    schedule = _schedule(settings)
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(SCHEDULE_ID).update(update)


async def refresh_now(
    client: Client, settings: Settings, company_id: str | None, first_day: str, last_day: str
) -> dict[str, int]:
    """Rebuild a window of roll-ups now and wait for it (seconds, even for a big company)."""
    workflow_id = f"analytics-refresh-{company_id or 'all'}"
    return await client.execute_workflow(
        AnalyticsRollupWorkflow.run,
        RollupInput(company_id=company_id, first_day=first_day, last_day=last_day),
        id=workflow_id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=KIND,
        static_summary=f"rebuild analytics roll-ups {first_day}..{last_day}",
    )
