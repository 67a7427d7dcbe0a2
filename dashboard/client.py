"""The dashboard's only door to data: Helpdeck's read-only analytics API, with the caller's
credentials (company key, signed-in user's session token, or the platform admin token)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

DEFAULT_API_URL = "http://127.0.0.1:8000"


def api_url() -> str:
    return os.environ.get("HELPDECK_API_URL", DEFAULT_API_URL).rstrip("/")


_pool: httpx.Client | None = None
_pool_lock = threading.Lock()


def _http() -> httpx.Client:
    """One connection pool for every session of this dashboard process: a new client per call
    would build a TLS context and open a connection on every page render."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = httpx.Client()
        return _pool


class ApiError(RuntimeError):
    """A problem-details answer from the API, told to the user as is."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail


@dataclass
class AnalyticsClient:
    base_url: str
    token: str
    timeout_s: float = 30.0

    def _request(self, method: str, path: str, **kwargs: Any) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"}
        response = _http().request(method, self.base_url + path, headers=headers, timeout=self.timeout_s, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise ApiError(
                response.status_code, body.get("code", "http_error"), body.get("detail", response.text[:200])
            )
        return response.json()  # type: ignore[no-any-return]

    def report(
        self, page: str, first: date, last: date, channel: str | None = None, company_id: str | None = None
    ) -> dict:
        params = {"from": first.isoformat(), "to": last.isoformat()}
        if channel:
            params["channel"] = channel
        if company_id:
            params["company_id"] = company_id
        return self._request("GET", f"/v1/analytics/{page}", params=params)

    def refresh(self, first: date, last: date) -> dict:
        return self._request("POST", "/v1/analytics/refresh", json={"from": first.isoformat(), "to": last.isoformat()})


def login(base_url: str, email: str, password: str) -> str:
    """A session token for a company user (POST /v1/auth/login)."""
    response = httpx.post(base_url + "/v1/auth/login", json={"email": email, "password": password}, timeout=15)
    if response.status_code != 200:
        body = response.json() if response.headers.get("content-type", "").endswith("json") else {}
        raise ApiError(response.status_code, body.get("code", "http_error"), body.get("detail", "sign-in failed"))
    return str(response.json()["token"])
