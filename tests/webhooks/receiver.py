"""A local HTTP server on 127.0.0.1 standing in for a customer's webhook endpoint.

It records every request (headers and raw body) and answers with a steerable status: 200 by
default, or a scripted status for the next N requests (503 while "down", 410 "gone", ...).
It runs in a thread, so it answers while the test's event loop runs the worker.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class Receiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        self._scripted: deque[int] = deque()
        self._status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    status = receiver._scripted.popleft() if receiver._scripted else receiver._status
                    receiver._requests.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, status)
                    )
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, status: int) -> None:
        """Answer every later request with `status` (200 = up)."""
        with self._lock:
            self._status = status

    def answer_next(self, *statuses: int) -> None:
        with self._lock:
            self._scripted.extend(statuses)

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    def accepted(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.answered < 300]
