"""`helpdeck up` starts the dashboard on its own port, prints its address, and stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from helpdeck.embedded import free_port
from tests.test_cli_up import HELPDECK, _port_is_free


@pytest.mark.timeout(300)
def test_up_serves_the_dashboard_on_its_own_port_and_stops_it(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("api", "temporal", "ui", "redis", "dashboard")}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELPDECK_", "OPENAI_"))}
    env |= {
        "HELPDECK_DATA_DIR": str(tmp_path / "data"),
        "HELPDECK_TEMPORAL_PORT": str(ports["temporal"]),
        "HELPDECK_TEMPORAL_UI_PORT": str(ports["ui"]),
        "HELPDECK_REDIS_PORT": str(ports["redis"]),
        "HELPDECK_DASHBOARD_PORT": str(ports["dashboard"]),
    }
    process = subprocess.Popen(
        [HELPDECK, "up", "--port", str(ports["api"])],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    dashboard = f"http://127.0.0.1:{ports['dashboard']}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "the dashboard never answered"
            try:
                if httpx.get(f"{dashboard}/_stcore/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert httpx.get(dashboard, timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        try:
            # Stopping takes ~10 s on a quiet box (the API's graceful window, then PostgreSQL,
            # Temporal and Redis); on a loaded CI box it once took over 60 s.
            output, _ = process.communicate(timeout=150)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
            raise AssertionError(f"`helpdeck up` did not stop within 150 s of Ctrl-C:\n{output[-3000:]}") from None
    assert f"Dashboard    {dashboard}" in output
    assert _port_is_free(ports["dashboard"]), "the dashboard outlived Ctrl-C"
