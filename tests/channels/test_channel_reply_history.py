"""Determinism of ChannelReplyWorkflow: histories of real replies (posted; posted after Slack was
down; refused for good) replay against the current code, as do the ones committed in histories/."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlmodel import select
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from helpdeck.tables import ChannelDelivery
from tests.channels.standins import SlackStandIn, slack_headers
from tests.channels.test_slack import SECRET, _wait_delivery, mention, send
from tests.channels.test_slack import slack_tenant as slack_tenant  # noqa: F401 (fixture)
from tests.conftest import Api, Tenant
from worker import WORKFLOWS
from workflows.channel_reply import reply_workflow_id

HISTORIES = Path(__file__).parent / "histories"


async def _replay(histories: list[WorkflowHistory]) -> None:
    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=UnsandboxedWorkflowRunner())
    failures = {}
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures[history.workflow_id] = str(result.replay_failure)
    assert not failures, failures


async def _reply_history(
    api: Api, tenant: Tenant, slack_api: SlackStandIn, text: str, status: str, *failures: str
) -> WorkflowHistory:
    slack_api.fail_next(*failures)
    body = mention(text)
    assert (await send(api, tenant.id, body, slack_headers(SECRET, body))).status_code == 200
    delivery = await _wait_delivery(api, tenant.id, status)
    handle = api.runtime.temporal.get_workflow_handle(reply_workflow_id(delivery.turn_id))
    await handle.result()
    async with api.runtime.db.session() as session:
        await session.delete(await session.get(ChannelDelivery, delivery.turn_id))
        await session.commit()
    return await handle.fetch_history()


async def test_recorded_channel_replies_replay_deterministically(
    api: Api,
    slack_tenant: Tenant,  # noqa: F811
    slack_api: SlackStandIn,
) -> None:
    histories = [
        await _reply_history(api, slack_tenant, slack_api, "plain", "posted"),
        await _reply_history(api, slack_tenant, slack_api, "flaky", "posted", "before", "after"),
        await _reply_history(api, slack_tenant, slack_api, "refused", "failed", "channel_not_found"),
    ]
    await _replay(histories)
    if os.environ.get("HELPDECK_SAVE_HISTORIES"):
        for name, history in zip(("posted", "flaky", "refused"), histories, strict=True):
            (HISTORIES / f"channel_reply_{name}.json").write_text(history.to_json())
    async with api.runtime.db.session() as session:
        assert list(await session.exec(select(ChannelDelivery).where(ChannelDelivery.status == "pending"))) == []


async def test_committed_channel_reply_histories_still_replay() -> None:
    files = sorted(HISTORIES.glob("*.json"))
    assert files, "no committed histories: run with HELPDECK_SAVE_HISTORIES=1 once"
    await _replay([WorkflowHistory.from_json(f.stem, json.loads(f.read_text())) for f in files])
