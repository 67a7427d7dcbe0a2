"""Durability, proven by killing real processes in the middle of a turn.

The model stand-in (a local server speaking the OpenAI protocol) holds the call open, so the
kill lands while the model call is in flight.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlmodel import select
from temporalio.client import Client

from helpdeck.embedded import TemporalDevServer, free_port
from helpdeck.runtime import open_runtime
from helpdeck.services.turn_runner import start_turn, turn_id_for
from helpdeck.tables import Message
from tests.conftest import Api, Tenant, new_conversation

ROOT = Path(__file__).resolve().parent.parent


def _spawn_worker(api: Api, task_queue: str, model_url: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": api.settings.temporal_address,
        "DATABASE_URL": api.settings.database_url,
        "REDIS_URL": api.settings.redis_url,
        "HELPDECK_TASK_QUEUE": task_queue,
        "OPENAI_BASE_URL": model_url,
        "OPENAI_API_KEY": "sk-test",
        "HELPDECK_MODEL_TIMEOUT_S": "30",
        "HELPDECK_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env)


async def _wait_for(predicate, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout_s * 20)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def _messages(api: Api, conversation: str) -> list[Message]:
    async with api.runtime.db.session() as session:
        rows = await session.exec(
            select(Message).where(Message.conversation_id == uuid.UUID(conversation)).order_by(Message.seq)
        )
        return list(rows)


@pytest.mark.timeout(120)
async def test_worker_killed_mid_model_call_still_answers_once(api: Api, tenant: Tenant, fake_primary) -> None:
    task_queue = f"durability-{uuid.uuid4().hex[:8]}"
    conversation = await new_conversation(tenant)
    fake_primary.set_mode("stall", times=1, stall_seconds=120)
    first = _spawn_worker(api, task_queue, fake_primary.base_url)
    second = None
    try:
        turn_id = turn_id_for(uuid.UUID(tenant.id), uuid.UUID(conversation), "kill-me")
        handle = await start_turn(
            api.runtime.temporal,
            task_queue,
            uuid.UUID(tenant.id),
            uuid.UUID(conversation),
            turn_id,
            "Is my refund processed?",
            "api",
            eager=False,
        )
        await _wait_for(lambda: fake_primary.calls == 1, 60, "the model call to be in flight")
        first.send_signal(signal.SIGKILL)
        first.wait()
        fake_primary.release()
        second = _spawn_worker(api, task_queue, fake_primary.base_url)
        result = await asyncio.wait_for(handle.result(), timeout=90)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    messages = await _messages(api, conversation)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "Is my refund processed?"),
        ("assistant", "Echo: Is my refund processed?"),
    ]
    assert result.reply_message_id == str(messages[1].id)
    assert fake_primary.calls == 2  # the in-flight call died with the worker, and was made again


@pytest.mark.timeout(120)
async def test_temporal_server_killed_and_restarted_mid_turn_completes(
    api: Api, tenant: Tenant, fake_primary, tmp_path: Path
) -> None:
    server = TemporalDevServer(db_file=tmp_path / "temporal.sqlite", port=free_port(), ui_port=None)
    server.start()
    settings = api.settings.model_copy(update={"temporal_address": server.address, "task_queue": "restart-q"})
    client = await Client.connect(server.address)
    runtime = await open_runtime(settings, temporal=client)
    from worker import build_worker

    worker = build_worker(client, runtime)
    worker_task = asyncio.create_task(worker.run())
    conversation = await new_conversation(tenant)
    fake_primary.set_mode("stall", times=1, stall_seconds=3)
    try:
        turn_id = turn_id_for(uuid.UUID(tenant.id), uuid.UUID(conversation), "restart")
        handle = await start_turn(
            client,
            "restart-q",
            uuid.UUID(tenant.id),
            uuid.UUID(conversation),
            turn_id,
            "Still there?",
            "api",
            eager=False,
        )
        await _wait_for(lambda: fake_primary.calls == 1, 30, "the model call to be in flight")
        server.kill()
        await asyncio.sleep(1)
        server.start()
        result = await asyncio.wait_for(handle.result(), timeout=90)
    finally:
        await worker.shutdown()
        worker_task.cancel()
        await runtime.close()
        server.stop()
    messages = await _messages(api, conversation)
    assert [(m.role, m.content) for m in messages] == [("user", "Still there?"), ("assistant", "Echo: Still there?")]
    assert result.reply_message_id == str(messages[1].id)
