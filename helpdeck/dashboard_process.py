"""`helpdeck up` starts the managers' dashboard (Streamlit) as a child process on its own port,
pointed at this API; Ctrl-C stops it with everything else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpdeck.embedded import PortInUseError, ensure_port_free
from helpdeck.settings import Settings

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def start_dashboard(settings: Settings) -> tuple[subprocess.Popen | None, str]:
    """The running dashboard and its URL, or (None, why not) when it is off or its port is taken."""
    if not settings.dashboard_port:
        return None, "off (HELPDECK_DASHBOARD_PORT=0)"
    try:
        ensure_port_free(settings.host, settings.dashboard_port, "dashboard")
    except PortInUseError as exc:
        return None, f"not started: {exc}"
    api_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    env = {**os.environ, "HELPDECK_API_URL": f"http://{api_host}:{settings.port}"}
    log = open(settings.data_path / "dashboard.log", "ab")  # noqa: SIM115 - the child owns it
    process = subprocess.Popen(
        [
            sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.headless", "true",
            "--server.address", settings.host,
            "--server.port", str(settings.dashboard_port),
            "--browser.gatherUsageStats", "false",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=APP.parents[1],
    )
    return process, f"http://{settings.host}:{settings.dashboard_port}"


def stop_dashboard(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
