"""Determinism and visibility of the turn workflow.

Replay: histories of real turns (recorded in this run, plus ones committed in histories/ from
earlier versions) must replay against the current workflow code without a non-determinism
error. A change that would break turns already running in production fails here first.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from helpdeck.tables import Conversation
from tests.conftest import Api, Tenant, new_conversation
from worker import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
# Bump when the turn workflow's shape changes (behind workflow.patched), then save histories.
HISTORY_VERSION = "v4"


async def _replay(histories: list[WorkflowHistory]) -> None:
    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=UnsandboxedWorkflowRunner())
    failures = {}
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures[history.workflow_id] = str(result.replay_failure)
    assert not failures, failures


async def _record_turns(api: Api, tenant: Tenant, fake_primary) -> list[WorkflowHistory]:
    """Turns down every path: plain, two at once (one waits), fallback, human-owned."""
    conversation = await new_conversation(tenant)
    url = f"/v1/conversations/{conversation}/messages"
    plain = await tenant.client.post(url, json={"content": "plain"})
    pair = await asyncio.gather(*(tenant.client.post(url, json={"content": f"at once {n}"}) for n in range(2)))
    fake_primary.set_mode("fail", times=3)
    fallback = await tenant.client.post(url, json={"content": "fallback"})
    async with api.runtime.db.session() as session:
        row = await session.get(Conversation, uuid.UUID(conversation))
        assert row is not None
        row.status = "escalated"
        session.add(row)
        await session.commit()
    human = await tenant.client.post(url, json={"content": "human"})
    turn_ids = [r.json()["turn_id"] for r in (plain, *pair, fallback, human)]
    return [await api.runtime.temporal.get_workflow_handle(t).fetch_history() for t in turn_ids]


async def test_recorded_turns_replay_deterministically(api: Api, tenant: Tenant, fake_primary) -> None:
    histories = await _record_turns(api, tenant, fake_primary)
    assert len(histories) == 5
    await _replay(histories)
    if os.environ.get("HELPDECK_SAVE_HISTORIES"):
        for name, history in zip(
            ("plain", "concurrent_a", "concurrent_b", "fallback", "human"), histories, strict=True
        ):
            # Each version's histories stay beside the older ones: all of them must replay.
            (HISTORIES / f"chat_turn_{HISTORY_VERSION}_{name}.json").write_text(history.to_json())


async def test_committed_histories_of_earlier_versions_still_replay() -> None:
    files = sorted(HISTORIES.glob("*.json"))
    assert files, "no committed histories: run with HELPDECK_SAVE_HISTORIES=1 once"
    histories = [WorkflowHistory.from_json(f.stem, json.loads(f.read_text())) for f in files]
    await _replay(histories)


async def test_turns_are_findable_by_company_and_conversation(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    turn = (await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "find me"})).json()
    query = f'HelpdeckCompanyId = "{tenant.id}" AND HelpdeckConversationId = "{conversation}" AND HelpdeckKind = "turn"'
    found: list[str] = []
    for _ in range(50):  # visibility is eventually consistent
        found = [w.id async for w in api.runtime.temporal.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [turn["turn_id"]]
