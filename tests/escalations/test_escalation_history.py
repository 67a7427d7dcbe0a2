"""Determinism of the EscalationWorkflow: histories of real escalations (recorded now, and the
committed ones in tests/workflows/histories/escalation_*.json) replay against the current code."""

from __future__ import annotations

import json
import os
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from tests.conftest import Api, Tenant, new_conversation
from tests.escalations.support import escalate, make_agent
from tests.escalations.test_sla_timers import _runtime_on, _start, _until_breaches
from worker import WORKFLOWS, build_worker
from workflows.escalation import EscalationWorkflow, ResolveRequest

HISTORIES = Path(__file__).parents[1] / "workflows" / "histories"


async def _replay(histories: list[WorkflowHistory]) -> None:
    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=UnsandboxedWorkflowRunner())
    failures = {}
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures[history.workflow_id] = str(result.replay_failure)
    assert not failures, failures


async def _record_api_escalations(api: Api, tenant: Tenant) -> dict[str, WorkflowHistory]:
    """Two escalations down the API's paths: a full handling with a release, and a dismissal."""
    ada, bob = await make_agent(api, tenant, name="Ada"), await make_agent(api, tenant, name="Bob")
    conversation = await new_conversation(tenant)
    await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "I want a human"})
    handled = await escalate(tenant, conversation, reason="asked", category="customer_request")
    url = f"/v1/escalations/{handled['id']}"
    await ada.client.post(f"{url}/claim")
    await ada.client.post(f"{url}/messages", json={"content": "Hello, Ada here"})
    await ada.client.post(f"{url}/release")
    await bob.client.post(f"{url}/claim")
    await bob.client.post(f"{url}/messages", json={"content": "Bob now, all sorted"})
    await bob.client.post(f"{url}/resolve", json={"resolution": "done", "hand_back_to_bot": True})
    dismissed = await escalate(tenant, await new_conversation(tenant), category="complaint")
    await tenant.client.post(f"/v1/escalations/{dismissed['id']}/resolve", json={"resolution": "spam"})
    out = {}
    for name, row in (("handled", handled), ("dismissed", dismissed)):
        handle = api.runtime.temporal.get_workflow_handle(f"escalation-{row['id']}")
        await handle.result()
        out[name] = await handle.fetch_history()
    return out


async def test_recorded_escalations_replay_deterministically(
    api: Api, tenant: Tenant, skipping_env: WorkflowEnvironment
) -> None:
    histories = await _record_api_escalations(api, tenant)
    async with build_worker(skipping_env.client, _runtime_on(api, "sla-replay")):
        _, handle = await _start(api, skipping_env, tenant, "sla-replay")
        await _until_breaches(handle, skipping_env, 2)
        await handle.execute_update(EscalationWorkflow.resolve, ResolveRequest(None, True, "closed by the test", False))
        await handle.result()
        histories["sla_breached"] = await handle.fetch_history()
    await _replay(list(histories.values()))
    if os.environ.get("HELPDECK_SAVE_HISTORIES"):
        for name, history in histories.items():
            (HISTORIES / f"escalation_{name}.json").write_text(history.to_json())


async def test_committed_escalation_histories_still_replay() -> None:
    files = sorted(HISTORIES.glob("escalation_*.json"))
    assert files, "no committed escalation histories: run with HELPDECK_SAVE_HISTORIES=1 once"
    await _replay([WorkflowHistory.from_json(f.stem, json.loads(f.read_text())) for f in files])
