"""A customer's web site stand-in: a real HTTP server on 127.0.0.1 serving fixed pages."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Site:
    def __init__(self, pages: dict[str, tuple[str, bytes]], statuses: dict[str, int] | None = None) -> None:
        self.pages = pages
        self.statuses = statuses or {}  # path → error status to answer instead
        self.requests: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                site.requests.append(self.path)
                if self.path in site.statuses:
                    self.send_response(site.statuses[self.path])
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                found = site.pages.get(self.path)
                if found is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                content_type, body = found
                self.send_response(200)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def html(title: str, body: str) -> tuple[str, bytes]:
    return "text/html; charset=utf-8", f"<html><head><title>{title}</title></head><body>{body}</body></html>".encode()
