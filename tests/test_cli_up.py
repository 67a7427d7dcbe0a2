"""`helpdeck up` as a user runs it: one command, everything up, Ctrl-C stops it all, data kept."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from helpdeck.embedded import free_port

HELPDECK = str(Path(sys.executable).parent / "helpdeck")


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _start(data_dir: Path, ports: dict[str, int]) -> subprocess.Popen:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HELPDECK_", "OPENAI_")) and key not in ("DATABASE_URL", "REDIS_URL", "TEMPORAL_ADDRESS")
    }
    env |= {
        "HELPDECK_DATA_DIR": str(data_dir),
        "HELPDECK_TEMPORAL_PORT": str(ports["temporal"]),
        "HELPDECK_TEMPORAL_UI_PORT": str(ports["ui"]),
        "HELPDECK_REDIS_PORT": str(ports["redis"]),
    }
    return subprocess.Popen(
        [HELPDECK, "up", "--port", str(ports["api"])],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 90) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            response = httpx.get(f"{url}/health", timeout=2)
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("helpdeck up did not become healthy")


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    return output


@pytest.mark.timeout(300)
def test_up_runs_everything_stops_cleanly_and_keeps_data(tmp_path: Path) -> None:
    ports = {"api": free_port(), "temporal": free_port(), "ui": free_port(), "redis": free_port()}
    url = f"http://127.0.0.1:{ports['api']}"
    data_dir = tmp_path / "data"
    first = _start(data_dir, ports)
    try:
        health = _wait_healthy(url, first)
        assert {name for name, c in health["components"].items() if c["ok"]} == {"database", "redis", "temporal"}
        token = (data_dir / "admin_token").read_text().strip()
        company = httpx.post(
            f"{url}/v1/companies", json={"name": "Laptop"}, headers={"Authorization": f"Bearer {token}"}
        ).json()
        auth = {"Authorization": f"Bearer {company['api_key']}"}
        conversation = httpx.post(f"{url}/v1/conversations", json={"user_id": "me"}, headers=auth).json()["id"]
        reply = httpx.post(
            f"{url}/v1/conversations/{conversation}/messages", json={"content": "hello"}, headers=auth, timeout=30
        )
        assert reply.status_code == 200 and reply.json()["message"]["role"] == "assistant"

        # A second `up` on a taken port fails at once with one line naming the port.
        other_ports = {
            "HELPDECK_TEMPORAL_PORT": str(free_port()),
            "HELPDECK_TEMPORAL_UI_PORT": str(free_port()),
            "HELPDECK_REDIS_PORT": str(free_port()),
        }
        clash = subprocess.run(
            [HELPDECK, "up", "--port", str(ports["api"]), "--data-dir", str(tmp_path / "other")],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **other_ports},
        )
        assert clash.returncode == 1
        error_lines = [line for line in (clash.stdout + clash.stderr).splitlines() if "error" in line]
        assert len(error_lines) == 1 and str(ports["api"]) in error_lines[0]
    finally:
        output = _stop(first)
    assert first.returncode == 0, output
    assert token in output and f"{url}/docs" in output
    for port in ports.values():
        assert _port_is_free(port), f"port {port} still served after Ctrl-C"
    assert not (data_dir / "postgres" / "postmaster.pid").exists(), "PostgreSQL left running"

    second = _start(data_dir, ports)
    try:
        _wait_healthy(url, second)
        messages = httpx.get(f"{url}/v1/conversations/{conversation}/messages", headers=auth).json()["items"]
        assert [m["content"] for m in messages][0] == "hello" and len(messages) == 2
        assert (data_dir / "admin_token").read_text().strip() == token
    finally:
        _stop(second)
    assert second.returncode == 0
