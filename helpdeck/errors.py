"""Typed domain errors. `api/errors.py` maps each to an RFC 9457 problem with a stable code."""

from __future__ import annotations


class HelpdeckError(Exception):
    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(self, detail: str = "", code: str | None = None, **extra: object) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code:
            self.code = code  # a more specific stable code than the class default
        self.extra = extra


class NotFound(HelpdeckError):
    status, code, title = 404, "not_found", "Not found"


class Unauthorized(HelpdeckError):
    status, code, title = 401, "unauthorized", "Missing or invalid credentials"


class Forbidden(HelpdeckError):
    status, code, title = 403, "forbidden", "Not allowed"


class Conflict(HelpdeckError):
    status, code, title = 409, "conflict", "Conflict"


class RateLimited(HelpdeckError):
    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail, retry_after=retry_after_s)
        self.retry_after_s = retry_after_s


class InvalidInput(HelpdeckError):
    status, code, title = 422, "validation_error", "Invalid input"


class IntakeUnavailable(HelpdeckError):
    """Nothing was recorded (the workflow service is unreachable): the client should retry."""

    status, code, title = 503, "intake_unavailable", "Not recorded; try again"
