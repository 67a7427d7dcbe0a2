"""Determinism of the knowledge workflows: real ingestion and crawl histories, recorded in this run,
replay against the current code (commit them with HELPDECK_SAVE_HISTORIES=1 into
tests/workflows/histories/, where tests/workflows/test_history.py replays them forever after)."""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from tests.conftest import Api, Tenant
from tests.knowledge_api.site import Site, html
from tests.knowledge_api.support import upload_file, wait_done
from worker import WORKFLOWS

HISTORIES = Path(__file__).resolve().parents[1] / "workflows" / "histories"


async def _replay(histories: list[WorkflowHistory]) -> None:
    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=UnsandboxedWorkflowRunner())
    failures = {}
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures[history.workflow_id] = str(result.replay_failure)
    assert not failures, failures


async def test_recorded_ingestions_and_crawls_replay_deterministically(api: Api, tenant: Tenant) -> None:
    client = api.runtime.temporal
    ready = await upload_file(
        tenant, "replay.md", b"# Replay\n\nDeterminism keeps running workflows safe.", "text/markdown"
    )
    failed = await upload_file(tenant, "broken.pdf", b"%PDF-1.4 this is not really a pdf", "application/pdf")
    for response in (ready, failed):
        await wait_done(tenant, response.json()["id"])
    with Site({"/": html("Home", "<p>Replayable home page of the test site.</p>")}) as site:
        source = (await tenant.client.post("/v1/sources", json={"url": site.url + "/"})).json()
        crawl = client.get_workflow_handle(f"crawl-{source['id']}")
        await crawl.result()
    histories = {
        "ingest_ready": await client.get_workflow_handle(f"ingest-{ready.json()['id']}-v1").fetch_history(),
        "ingest_failed": await client.get_workflow_handle(f"ingest-{failed.json()['id']}-v1").fetch_history(),
        "crawl_site": await crawl.fetch_history(),
    }
    await _replay(list(histories.values()))
    if os.environ.get("HELPDECK_SAVE_HISTORIES"):
        for name, history in histories.items():
            (HISTORIES / f"{name}.json").write_text(history.to_json())
