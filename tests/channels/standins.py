"""Local HTTP servers standing in for the Slack Web API and Discord's REST API.

They speak just enough of each platform's protocol for slack_sdk and our Discord client to
talk to them (chat.postMessage, conversations.replies; PATCH @original, channel messages), record
every call, and can be told to fail so retries meet real HTTP. Plus signers that sign requests
exactly as Slack and Discord document it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from nacl.signing import SigningKey


class _Server:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[dict[str, Any]] = []
        self._fail: list[str] = []  # modes for the next calls: "after" (record, then 500), "before", or an error
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fail_next(self, *modes: str) -> None:
        with self.lock:
            self._fail.extend(modes)

    def _next_failure(self) -> str | None:
        with self.lock:
            return self._fail.pop(0) if self._fail else None

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self._fail.clear()

    async def wait_for(self, predicate, timeout_s: float = 30.0) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
        """The recorded calls matching predicate, once there is at least one (polls; no timing claims).

        Async on purpose: the API under test shares this event loop, so the wait must yield to it.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                found = [c for c in self.calls if predicate(c)]
            if found:
                return found
            await asyncio.sleep(0.05)
        return []

    def handle(self, method: str, path: str, query: dict, headers: dict, body: bytes) -> tuple[int, dict]:
        raise NotImplementedError

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                status, payload = server.handle(self.command, url.path, query, dict(self.headers), body)
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = _serve  # noqa: N815

        return Handler


class SlackStandIn(_Server):
    """Stands in for https://slack.com/api/ (the Web API that slack_sdk calls)."""

    def __init__(self) -> None:
        super().__init__()
        self._ts = 1700000000
        self.users: dict[str, str] = {}  # Slack user id -> profile email (users.info)
        self._update_fail: list[str] = []  # like fail_next, for chat.update only ("after" only)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.users.clear()
            self._update_fail.clear()

    def fail_next_update(self, *modes: str) -> None:
        with self.lock:
            self._update_fail.extend(modes)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.calls if c["method"] == method]

    @property
    def api_base_url(self) -> str:
        return self.base_url + "/api/"

    def posts(self) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.calls if c["method"] == "chat.postMessage"]

    def handle(self, method: str, path: str, query: dict, headers: dict, body: bytes) -> tuple[int, dict]:
        name = path.removeprefix("/api/")
        if headers.get("Authorization", headers.get("authorization", "")) != "Bearer xoxb-test-token":
            return 200, {"ok": False, "error": "invalid_auth"}
        if name == "conversations.replies":
            with self.lock:
                messages = [
                    {"ts": c["ts"], "text": c["body"]["text"], "metadata": c["body"].get("metadata")}
                    for c in self.calls
                    if c["method"] == "chat.postMessage" and c["body"].get("thread_ts") == query.get("ts")
                ]
            return 200, {"ok": True, "messages": messages, "has_more": False}
        if name == "conversations.history":
            with self.lock:
                messages = [
                    {"ts": c["ts"], "text": c["body"]["text"], "metadata": c["body"].get("metadata")}
                    for c in reversed(self.calls)
                    if c["method"] == "chat.postMessage" and c["body"].get("channel") == query.get("channel")
                ]
            return 200, {"ok": True, "messages": messages, "has_more": False}
        if name == "users.info":
            with self.lock:
                email = self.users.get(query.get("user", ""))
            if email is None:
                return 200, {"ok": False, "error": "user_not_found"}
            return 200, {"ok": True, "user": {"id": query["user"], "profile": {"email": email}}}
        if name in ("chat.update", "chat.postEphemeral"):
            payload = json.loads(body or b"{}")
            with self.lock:
                self.calls.append({"method": name, "body": payload, "ts": payload.get("ts", "")})
                lost = name == "chat.update" and self._update_fail and self._update_fail.pop(0) == "after"
            if lost:  # edited, but the answer is lost on the way back
                return 500, {"ok": False, "error": "internal_error"}
            return 200, {"ok": True, "channel": payload.get("channel"), "ts": payload.get("ts", "1.0")}
        if name != "chat.postMessage":
            return 200, {"ok": False, "error": "unknown_method"}
        failure = self._next_failure()
        if failure == "before":
            return 500, {"ok": False, "error": "internal_error"}
        if failure not in (None, "after"):
            return 200, {"ok": False, "error": failure}
        payload = json.loads(body or b"{}")
        with self.lock:
            self._ts += 1
            ts = f"{self._ts}.000100"
            self.calls.append({"method": name, "body": payload, "ts": ts})
        if failure == "after":  # posted, but the answer is lost on the way back
            return 500, {"ok": False, "error": "internal_error"}
        return 200, {"ok": True, "channel": payload.get("channel"), "ts": ts, "message": {"text": payload.get("text")}}


class DiscordStandIn(_Server):
    """Stands in for https://discord.com/api/v10 (interaction webhooks and channel messages, and
    what discord.py asks before connecting a bot: /users/@me, /oauth2/applications/@me and
    /gateway/bot, whose answer points at `gateway_url`)."""

    BOT_ID = "700000000000000001"
    APPLICATION_ID = "700000000000000009"

    def __init__(self) -> None:
        super().__init__()
        self.gateway_url = ""
        self.bot_token = "discord-bot-token"
        self.logins: list[str] = []  # the paths of the bot's login calls

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.logins.clear()

    def bot_user(self) -> dict[str, Any]:
        return {"id": self.BOT_ID, "username": "helpdeck", "discriminator": "0", "avatar": None, "bot": True,
                "global_name": None}  # fmt: skip

    def _login_call(self, path: str, headers: dict) -> tuple[int, dict] | None:
        answers: dict[str, Any] = {
            "/users/@me": lambda: {**self.bot_user(), "verified": True, "mfa_enabled": False, "flags": 0},
            "/oauth2/applications/@me": lambda: {
                "id": self.APPLICATION_ID, "name": "Helpdeck", "icon": None, "description": "",
                "bot_public": True, "bot_require_code_grant": False, "verify_key": "00" * 32,
                "owner": {**self.bot_user(), "bot": False}, "flags": 0,
            },
            "/gateway/bot": lambda: {
                "url": self.gateway_url, "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
            },
        }  # fmt: skip
        if path not in answers:
            return None
        if headers.get("Authorization", headers.get("authorization")) != f"Bot {self.bot_token}":
            return 401, {"message": "401: Unauthorized", "code": 0}
        with self.lock:
            self.logins.append(path)
        return 200, answers[path]()

    def handle(self, method: str, path: str, query: dict, headers: dict, body: bytes) -> tuple[int, dict]:
        if method == "GET":
            answered = self._login_call(path, headers)
            if answered is not None:
                return answered
        failure = self._next_failure()
        if failure == "before":
            return 503, {"message": "unavailable"}
        parts = path.strip("/").split("/")
        payload = json.loads(body or b"{}")
        if method == "PATCH" and len(parts) == 5 and parts[0] == "webhooks" and parts[3:] == ["messages", "@original"]:
            with self.lock:
                self.calls.append(
                    {"kind": "edit_original", "application_id": parts[1], "token": parts[2], "body": payload}
                )
            return 200, {"id": "900000000000000001", "content": payload.get("content")}
        if method == "POST" and len(parts) == 3 and parts[0] == "channels" and parts[2] == "messages":
            with self.lock:
                self.calls.append(
                    {
                        "kind": "channel_message",
                        "channel_id": parts[1],
                        "body": payload,
                        "authorization": headers.get("Authorization", headers.get("authorization")),
                    }
                )
            return 200, {"id": "900000000000000002"}
        return 404, {"message": "Unknown route"}


def slack_signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Slack's documented scheme: v0= + HMAC-SHA256(signing secret, "v0:{ts}:{body}")."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def slack_headers(signing_secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(signing_secret, ts, body),
        "content-type": "application/json",
    }


class DiscordSigner:
    """An application's Ed25519 key pair, signing like Discord: sign(timestamp + body)."""

    def __init__(self) -> None:
        self.key = SigningKey.generate()

    @property
    def public_key(self) -> str:
        return self.key.verify_key.encode().hex()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.key.sign(ts.encode() + body).signature.hex()
        return {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": ts, "content-type": "application/json"}
