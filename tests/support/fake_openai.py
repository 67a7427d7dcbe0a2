"""A local stand-in for the hosted OpenAI chat-completions API, steerable from tests.

It speaks just enough of the real protocol (`POST /v1/chat/completions`, streamed as SSE or
not, and `GET /v1/models`) for the `openai` SDK to talk to it, and it can be told to fail,
rate-limit, refuse, stall, babble or ramble so the gateway's error handling meets real HTTP.
Run it in a thread (`FakeOpenAI().start()`) or as its own process
(`python -m tests.support.fake_openai --port P --mode ok`) when a test kills the caller.

Control over HTTP (process mode, also available in thread mode):
  POST /_control {"mode": "...", "times": N, "stall_seconds": S, "reply_text": "...",
                  "send_usage": bool, "release": true, "reset": true}
  GET  /_calls   -> {"calls": N, "requests": [request bodies...]}
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MODES = (
    "ok",  # answer with reply_text, or an echo of the last user message
    "fail",  # HTTP 500
    "rate_limit",  # HTTP 429
    "unauthorized",  # HTTP 401
    "unknown_model",  # HTTP 404 model_not_found, as OpenAI answers a model name it does not serve
    "stall",  # wait stall_seconds (or until release()) and then answer normally
    "stall_mid_stream",  # send the first chunk, then stall like "stall" (non-stream: = stall)
    "garbage",  # HTTP 200 whose body (or SSE event, when streaming) is not JSON
    "oversized",  # a very long answer
)
MODEL_IDS = ("gpt-4o-mini", "gpt-4o", "fake-model")


def _count_tokens(text: str) -> int:
    """Word count: a deterministic stand-in for a tokenizer so tests can predict usage."""
    return len(text.split())


class FakeOpenAI:
    """The server plus its steerable state; all state changes are thread-safe."""

    def __init__(
        self,
        port: int = 0,
        mode: str = "ok",
        reply_text: str | None = None,
        stall_seconds: float = 30.0,
        oversized_chars: int = 100_000,
        send_usage: bool = True,
    ) -> None:
        self._lock = threading.Lock()
        self._port = port
        self.mode = mode
        self.reply_text = reply_text
        self.stall_seconds = stall_seconds
        self.oversized_chars = oversized_chars
        self.send_usage = send_usage
        self._defaults = (mode, reply_text, stall_seconds, send_usage)
        self._queued_modes: deque[str] = deque()
        self._release_event = threading.Event()
        self.requests: list[dict[str, Any]] = []
        self.calls = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- steering -----------------------------------------------------------------------

    def set_mode(
        self, mode: str, times: int | None = None, stall_seconds: float | None = None
    ) -> None:
        """Use `mode` for the next `times` chat calls, or from now on when `times` is None."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
        with self._lock:
            if stall_seconds is not None:
                self.stall_seconds = stall_seconds
            if times is None:
                self.mode = mode
                self._queued_modes.clear()
            else:
                self._queued_modes.extend([mode] * times)

    def release(self) -> None:
        """Let every request stalled right now answer; later stalls wait afresh."""
        with self._lock:
            self._release_event.set()
            self._release_event = threading.Event()

    def reset(self) -> None:
        """Forget recorded requests and queued modes; back to the settings it was built with."""
        with self._lock:
            self.requests.clear()
            self.calls = 0
            self._queued_modes.clear()
            self.mode, self.reply_text, self.stall_seconds, self.send_usage = self._defaults
        self.release()

    def _take_mode(self, body: dict[str, Any]) -> tuple[str, threading.Event]:
        with self._lock:
            self.calls += 1
            self.requests.append(body)
            mode = self._queued_modes.popleft() if self._queued_modes else self.mode
            return mode, self._release_event

    def control(self, command: dict[str, Any]) -> None:
        """Apply a `/_control` command (the HTTP form of the methods above)."""
        if command.get("reset"):
            self.reset()
        with self._lock:
            if "reply_text" in command:
                self.reply_text = command["reply_text"]
            if "send_usage" in command:
                self.send_usage = bool(command["send_usage"])
        if "mode" in command:
            self.set_mode(command["mode"], command.get("times"), command.get("stall_seconds"))
        elif "stall_seconds" in command:
            with self._lock:
                self.stall_seconds = float(command["stall_seconds"])
        if command.get("release"):
            self.release()

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        """Bind 127.0.0.1 (port 0 picks a free one) and serve in a daemon thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release stalled requests and shut the server down."""
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- answers ------------------------------------------------------------------------

    def answer_text(self, body: dict[str, Any], mode: str) -> str:
        if mode == "oversized":
            word = "lorem "
            return (word * (self.oversized_chars // len(word) + 1))[: self.oversized_chars]
        if self.reply_text is not None:
            return self.reply_text
        user_messages = [m for m in body.get("messages", []) if m.get("role") == "user"]
        last = user_messages[-1].get("content", "") if user_messages else ""
        if not isinstance(last, str):  # content parts: keep only the text parts
            last = " ".join(p.get("text", "") for p in last if isinstance(p, dict))
        return f"Echo: {last}"


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAI
    server_version = "FakeOpenAI/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # keep test output quiet

    # -- routing ------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.path.rstrip("/") == "/v1/models":
            models = [
                {"id": model_id, "object": "model", "created": 0, "owned_by": "fake"}
                for model_id in MODEL_IDS
            ]
            self._send_json(200, {"object": "list", "data": models})
        elif self.path == "/_calls":
            with self.fake._lock:
                payload = {"calls": self.fake.calls, "requests": list(self.fake.requests)}
            self._send_json(200, payload)
        elif self.path == "/_health":
            self._send_json(200, {"ok": True})
        else:
            self._send_error(404, "not_found", f"no route {self.path}")

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        try:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw or b"{}")
        except (ValueError, json.JSONDecodeError):
            self._send_error(400, "invalid_request_error", "body is not JSON")
            return
        try:
            if self.path == "/_control":
                self.fake.control(body)
                self._send_json(200, {"ok": True, "mode": self.fake.mode})
            elif self.path.rstrip("/") == "/v1/chat/completions":
                self._chat(body)
            else:
                self._send_error(404, "not_found", f"no route {self.path}")
        except ValueError as err:
            self._send_error(400, "invalid_request_error", str(err))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout, killed process): nothing to answer

    # -- chat completions ---------------------------------------------------------------

    def _chat(self, body: dict[str, Any]) -> None:
        mode, release_event = self.fake._take_mode(body)
        streaming = bool(body.get("stream"))
        if mode == "fail":
            self._send_error(
                500, "server_error", "The server had an error processing your request."
            )
            return
        if mode == "rate_limit":
            self._send_error(
                429, "rate_limit_exceeded", "Rate limit reached.", {"Retry-After": "1"}
            )
            return
        if mode == "unauthorized":
            self._send_error(401, "invalid_api_key", "Incorrect API key provided.")
            return
        if mode == "unknown_model":
            self._send_error(404, "model_not_found", f"The model `{body.get('model')}` does not exist.")
            return
        if mode == "garbage" and streaming:  # an event stream whose events are not JSON
            self._send_raw(200, b"data: <html>upstream hiccup</html>\n\n", "text/event-stream")
            return
        if mode == "garbage":
            self._send_raw(200, b"<html><body>upstream hiccup</body></html>", "text/html")
            return
        if mode == "stall" or (mode == "stall_mid_stream" and not streaming):
            release_event.wait(self.fake.stall_seconds)
        text = self.fake.answer_text(body, mode)
        model = str(body.get("model") or "fake-model")
        prompt_tokens = sum(
            _count_tokens(m["content"])
            for m in body.get("messages", [])
            if isinstance(m.get("content"), str)
        )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": _count_tokens(text),
            "total_tokens": prompt_tokens + _count_tokens(text),
        }
        if streaming:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            stall_after_first = release_event if mode == "stall_mid_stream" else None
            self._stream(text, model, usage if include_usage else None, stall_after_first)
        else:
            self._send_json(200, self._completion(text, model, usage))

    def _completion(self, text: str, model: str, usage: dict[str, int]) -> dict[str, Any]:
        completion: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
        }
        if self.fake.send_usage:
            completion["usage"] = usage
        return completion

    def _stream(
        self,
        text: str,
        model: str,
        usage: dict[str, int] | None,
        stall_after_first: threading.Event | None,
    ) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        created = int(time.time())

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            return {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **extra,
            }

        def choice(delta: dict[str, str], finish_reason: str | None = None) -> dict[str, Any]:
            return {"index": 0, "delta": delta, "finish_reason": finish_reason}

        self._sse(chunk([choice({"role": "assistant", "content": ""})]))
        for number, piece in enumerate(_pieces(text)):
            self._sse(chunk([choice({"content": piece})]))
            if number == 0 and stall_after_first is not None:
                stall_after_first.wait(self.fake.stall_seconds)
        self._sse(chunk([choice({}, "stop")]))
        if usage is not None and self.fake.send_usage:
            self._sse(chunk([], usage=usage))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    # -- low-level writers --------------------------------------------------------------

    def _sse(self, payload: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
        self.wfile.flush()

    def _send_json(self, status: int, payload: Any) -> None:
        self._send_raw(status, json.dumps(payload).encode(), "application/json")

    def _send_error(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        payload = {"error": {"message": message, "type": code, "param": None, "code": code}}
        self._send_raw(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_raw(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def _pieces(text: str) -> list[str]:
    """Word-sized stream pieces (long runs cut at 64 chars) that join back to `text`."""
    pieces: list[str] = []
    for word in text.split(" "):
        piece = word if not pieces else " " + word
        pieces.extend(piece[i : i + 64] for i in range(0, max(len(piece), 1), 64))
    return pieces


# -- process mode ---------------------------------------------------------------------------


class FakeOpenAIProcess:
    """The stand-in running as a child process, steered over HTTP from the test."""

    def __init__(self, mode: str = "ok", port: int = 0, stall_seconds: float = 30.0) -> None:
        command = [sys.executable, "-m", "tests.support.fake_openai", "--port", str(port)]
        command += ["--mode", mode, "--stall-seconds", str(stall_seconds)]
        repo_root = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=repo_root)
        assert self.process.stdout is not None
        ready = self.process.stdout.readline().split()  # "READY http://127.0.0.1:P/v1"
        if len(ready) != 2 or ready[0] != "READY":
            self.process.kill()
            raise RuntimeError(f"fake OpenAI server did not start: {ready}")
        self.base_url = ready[1]

    def control(self, **command: Any) -> dict[str, Any]:
        return _post_json(self.base_url.removesuffix("/v1") + "/_control", command)

    def calls(self) -> dict[str, Any]:
        url = self.base_url.removesuffix("/v1") + "/_calls"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _post_json(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--stall-seconds", type=float, default=30.0)
    parser.add_argument("--reply-text", default=None)
    args = parser.parse_args(argv)
    fake = FakeOpenAI(
        port=args.port, mode=args.mode, reply_text=args.reply_text, stall_seconds=args.stall_seconds
    ).start()
    print(f"READY {fake.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
