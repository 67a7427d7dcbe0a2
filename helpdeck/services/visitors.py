"""Widget visitors: who may read and post to a conversation opened with a publishable key.

A visitor token is `hd_vt_<nonce>.<mac>`: a random nonce and an HMAC-SHA256 (keyed with
`settings.secret_key`, shared by every API node) over the conversation id and the nonce. Nothing
is stored: the token proves it was issued for exactly that conversation, so a visitor can read
only their own conversation. Widget traffic is also rate limited per visitor and per company
with fixed one-minute windows in Redis (shared by every API node).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid

import redis.asyncio as aioredis

from helpdeck.errors import Forbidden, RateLimited, Unauthorized

TOKEN_PREFIX = "hd_vt_"
VISITOR_PER_MINUTE = 60
COMPANY_PER_MINUTE = 1200


def _mac(secret: str, conversation_id: str, nonce: str) -> str:
    message = f"visitor|{conversation_id}|{nonce}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:40]


def issue_token(secret: str, conversation_id: uuid.UUID | str) -> str:
    nonce = secrets.token_urlsafe(18)
    return f"{TOKEN_PREFIX}{nonce}.{_mac(secret, str(conversation_id), nonce)}"


def token_matches(secret: str, conversation_id: uuid.UUID | str, token: str | None) -> bool:
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 120:
        return False
    nonce, _, mac = token[len(TOKEN_PREFIX) :].partition(".")
    if not nonce or not mac:
        return False
    return hmac.compare_digest(mac, _mac(secret, str(conversation_id), nonce))


def check_visitor(secret: str, conversation_id: str, token: str | None) -> None:
    """403 unless the token was issued for this conversation (401 when none is sent)."""
    if not token:
        raise Unauthorized(
            "a publishable key reaches a conversation only with its visitor token (X-Visitor-Token)",
            code="visitor_token_required",
        )
    if not token_matches(secret, conversation_id, token):
        # Same answer for a foreign and an unknown conversation: nothing leaks about either.
        raise Forbidden("this visitor token is not for this conversation", code="visitor_forbidden")


async def take_widget_allowance(
    redis: aioredis.Redis,
    company_id: str,
    visitor: str | None,
    *,
    visitor_limit: int = VISITOR_PER_MINUTE,
    company_limit: int = COMPANY_PER_MINUTE,
) -> None:
    """Count one widget request against the visitor's and the company's minute; 429 when over."""
    window = int(time.time() // 60)
    retry = 60 - int(time.time() % 60)
    keys = [f"widget:rl:company:{company_id}:{window}"]
    if visitor:
        digest = hashlib.sha256(visitor.encode()).hexdigest()[:24]
        keys.append(f"widget:rl:visitor:{company_id}:{digest}:{window}")
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, 120)
        counts = await pipe.execute()
    if counts[0] > company_limit:
        raise RateLimited("too many widget requests for this company; retry shortly", retry)
    if visitor and counts[2] > visitor_limit:
        raise RateLimited("too many requests from this visitor; retry shortly", retry)
