"""Context window: the last N messages verbatim, older ones folded into a rolling summary."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.api.enums.v1 import EventType

from helpdeck.tables import Conversation
from tests.conftest import Api, Tenant, new_conversation


async def test_long_conversation_keeps_last_n_messages_and_a_summary(api: Api, tenant: Tenant, fake_primary) -> None:
    n = api.settings.context_messages
    conversation = await new_conversation(tenant)
    url = f"/v1/conversations/{conversation}/messages"
    turn_ids = []
    for i in range(n):  # 2n messages: enough to start the first summary
        response = await tenant.client.post(url, json={"content": f"question number {i}"})
        assert response.status_code == 200
        turn_ids.append(response.json()["turn_id"])
    row = None
    for _ in range(100):
        async with api.runtime.db.session() as session:
            row = await session.get(Conversation, uuid.UUID(conversation))
        if row is not None and row.summary_upto_seq > 0:
            break
        await asyncio.sleep(0.1)
    assert row is not None and row.summary_upto_seq == 2 * n - n  # all but the last n messages
    assert "question number 0" in row.summary
    # The reply step started the summary: no turn waited for a child workflow to start.
    summary = await api.runtime.temporal.get_workflow_handle(f"summary-{conversation}").describe()
    assert summary.parent_id is None
    for turn_id in turn_ids:
        history = await api.runtime.temporal.get_workflow_handle(turn_id).fetch_history()
        kinds = {EventType.Name(event.event_type) for event in history.events}
        assert "EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED" not in kinds, turn_id

    fake_primary.reset()
    reply = await tenant.client.post(url, json={"content": "and one more"})
    # The summariser may call the model too: pick the turn's own request.
    turn_requests = [r for r in fake_primary.requests if r["messages"][-1]["content"] == "and one more"]
    assert turn_requests, f"the turn did not ask the model: {reply.json()['message']}"
    prompt = turn_requests[0]["messages"]
    assert "<summary>" in prompt[0]["content"] and "question number 0" in prompt[0]["content"]
    history = prompt[1:-1]
    assert len(history) == n
    assert all("question number 0" not in m["content"] for m in history)
    assert prompt[-1]["content"] == "and one more"
