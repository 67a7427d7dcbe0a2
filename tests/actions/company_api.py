"""A local HTTP server on 127.0.0.1 standing in for a company's own API (its order system),
which the company registers as actions. It is the only stand-in in these tests: the bot, the
workflow, the database and the HTTP client are the real ones.

`GET /orders/{id}` answers an order as JSON (404 for order 00000); any other path echoes what
it received. Statuses can be scripted for the next requests ("500 once, then fine"), and every
request is recorded with its method, path, headers and body.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class CompanyApi:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._scripted: deque[int] = deque()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0") or 0))
                status, payload = api._route(self.command, self.path, body)
                with api._lock:
                    if api._scripted:
                        status, payload = api._scripted.popleft(), {"error": "scripted failure"}
                    api._calls.append(
                        Call(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, status)
                    )
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if method == "GET" and path.startswith("/orders/"):
            order_id = path.removeprefix("/orders/").split("?")[0]
            if order_id == "00000":
                return 404, {"error": "order not found"}
            return 200, {
                "order_id": order_id,
                "status": "shipped",
                "carrier": "DHL",
                "delivery": {"eta": "2025-05-02", "tracking_url": None},
                "items": ["blue mug", "red mug"],
            }
        return 200, {"received": json.loads(body) if body else None, "path": path}

    def __enter__(self) -> CompanyApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def fail_next(self, *statuses: int) -> None:
        with self._lock:
            self._scripted.extend(statuses)

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)
