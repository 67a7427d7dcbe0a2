"""Fixtures of the queue tests: Temporal's time-skipping test server for the SLA timers."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.workflows.test_turn_timers import _test_server_path


@pytest.fixture
async def skipping_env():  # type: ignore[no-untyped-def]
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=_test_server_path())
    try:
        yield env
    finally:
        await env.shutdown()
