"""The real embedded stack, started once per test session: a Temporal dev server, PostgreSQL,
Redis, and the API (with its in-process worker) served by uvicorn on a loopback port.

The only stand-ins are for what is truly outside: two local servers speaking the OpenAI
chat-completions protocol play the hosted primary and backup model providers.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from helpdeck.embedded import free_port
from helpdeck.runtime import Runtime
from helpdeck.settings import Settings
from helpdeck.stack import EmbeddedStack
from tests.support.fake_openai import FakeOpenAI

os.environ.setdefault("DO_NOT_TRACK", "1")
ADMIN_TOKEN = "hd_admin_test_token"


@pytest.fixture(scope="session")
def fake_primary() -> Iterator[FakeOpenAI]:
    """Stands in for the hosted OpenAI API (the primary provider)."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="session")
def fake_backup() -> Iterator[FakeOpenAI]:
    """Stands in for a second OpenAI-compatible provider (the backup)."""
    with FakeOpenAI(reply_text="Backup provider answer.") as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_fakes(fake_primary: FakeOpenAI, fake_backup: FakeOpenAI) -> None:
    fake_primary.reset()
    fake_backup.reset()


@pytest.fixture(autouse=True)
def _close_breakers(request: pytest.FixtureRequest) -> None:
    """Each test starts with the model slots' circuit breakers closed: their state is in Redis
    and would otherwise carry one test's failing stand-in into the next."""
    if "api" in request.fixturenames:
        import redis

        from helpdeck.answers.breaker import KEY_PREFIX

        settings: Settings = request.getfixturevalue("stack_settings")
        with redis.Redis.from_url(settings.redis_url) as client:
            keys = list(client.scan_iter(f"{KEY_PREFIX}*"))
            if keys:
                client.delete(*keys)


@pytest.fixture(scope="session")
def stack_settings(
    fake_primary: FakeOpenAI, fake_backup: FakeOpenAI
) -> Iterator[Settings]:
    # Not under pytest's basetemp: pytest prunes old basetemps, and a second pytest session on
    # the same machine would delete this one's PostgreSQL cluster under its feet.
    data_dir = Path(tempfile.mkdtemp(prefix="helpdeck-tests-"))
    settings = Settings(
        _env_file=None,
        data_dir=data_dir,
        port=free_port(),
        temporal_port=free_port(),
        temporal_ui_port=free_port(),
        redis_port=free_port(),
        admin_token=ADMIN_TOKEN,
        openai_api_key="sk-test",
        openai_base_url=fake_primary.base_url,
        chat_model="gpt-4o-mini",
        backup_base_url=fake_backup.base_url,
        backup_chat_model="backup-model",
        model_timeout_s=3,
        task_queue="helpdeck-tests",
        log_json=False,
        log_level="WARNING",
        allow_private_urls=True,  # webhook receivers in tests live on 127.0.0.1
    )
    stack = EmbeddedStack(settings)
    resolved = stack.start(temporal_ui=False)
    try:
        yield resolved
    finally:
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class Api:
    url: str
    runtime: Runtime
    settings: Settings


@pytest.fixture(scope="session")
async def api(stack_settings: Settings) -> AsyncIterator[Api]:
    from api.app import create_app

    app = create_app(stack_settings, run_worker=True)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=stack_settings.port, log_config=None, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield Api(f"http://127.0.0.1:{stack_settings.port}", app.state.runtime, stack_settings)
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="session")
async def admin(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=api.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    ) as client:
        yield client


@dataclass
class Tenant:
    id: str
    key: str
    client: httpx.AsyncClient


async def make_tenant(api: Api, admin: httpx.AsyncClient, tier: str = "pro", settings: dict | None = None) -> Tenant:
    response = await admin.post(
        "/v1/companies", json={"name": f"Co {uuid.uuid4().hex[:6]}", "tier": tier, "settings": settings or {}}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    client = httpx.AsyncClient(base_url=api.url, headers={"Authorization": f"Bearer {body['api_key']}"}, timeout=60)
    return Tenant(body["id"], body["api_key"], client)


@pytest.fixture
async def tenant(api: Api, admin: httpx.AsyncClient) -> AsyncIterator[Tenant]:
    made = await make_tenant(api, admin)
    yield made
    await made.client.aclose()


@pytest.fixture
async def other_tenant(api: Api, admin: httpx.AsyncClient) -> AsyncIterator[Tenant]:
    made = await make_tenant(api, admin)
    yield made
    await made.client.aclose()


async def new_conversation(tenant: Tenant, user_id: str = "user-1") -> str:
    response = await tenant.client.post("/v1/conversations", json={"user_id": user_id})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
