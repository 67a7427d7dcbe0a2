"""Widget visitors: who may read and post to a conversation opened with a publishable key.

A visitor token is `hd_vt_<nonce>.<mac>`: a random nonce and an HMAC-SHA256 (keyed with
`settings.secret_key`, shared by every API node) over the conversation id and the nonce. Nothing
is stored: the token proves it was issued for exactly that conversation, so a visitor can read
only their own conversation. Widget traffic is also rate limited per visitor and per company
with token buckets in Redis (shared by every API node): a bucket holds a minute's allowance
and refills steadily, so there is no window edge where twice the limit gets through.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
import uuid
from collections.abc import Mapping

import redis.asyncio as aioredis

from helpdeck.errors import Forbidden, RateLimited, Unauthorized

TOKEN_PREFIX = "hd_vt_"
VISITOR_PER_MINUTE = 60
COMPANY_PER_MINUTE = 1200

# KEYS: the company's bucket, then the visitor's (optional). ARGV: now (s), then capacity and
# refill per second for each key. Takes a token from every bucket or from none.
# Returns {0, 0} when allowed, else {index of the empty bucket (1-based), retry after (s)}.
_BUCKETS = """
local now = tonumber(ARGV[1])
local left = {}
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[2 * i])
  local refill = tonumber(ARGV[2 * i + 1])
  local bucket = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(bucket[1]) or capacity
  local at = tonumber(bucket[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - at) * refill)
  if tokens < 1 then
    return {i, math.ceil((1 - tokens) / refill)}
  end
  left[i] = tokens - 1
end
for i, key in ipairs(KEYS) do
  redis.call('HSET', key, 'tokens', left[i], 'at', now)
  redis.call('EXPIRE', key, math.ceil(tonumber(ARGV[2 * i]) / tonumber(ARGV[2 * i + 1])) + 1)
end
return {0, 0}
"""


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


def widget_limits(company_settings: Mapping | None, visitor_default: int, company_default: int) -> tuple[int, int]:
    """(per visitor, per company) requests per minute: the platform's, or a company's lower figures
    from `settings.widget.visitor_requests_per_minute` and `company_requests_per_minute`."""
    widget = (company_settings or {}).get("widget")
    widget = widget if isinstance(widget, Mapping) else {}

    def lowered(name: str, default: int) -> int:
        value = widget.get(name)
        return max(1, min(default, value)) if isinstance(value, int) and not isinstance(value, bool) else default

    per_visitor = lowered("visitor_requests_per_minute", visitor_default)
    return per_visitor, lowered("company_requests_per_minute", company_default)


async def take_widget_allowance(
    redis: aioredis.Redis,
    company_id: str,
    visitor: str | None,
    *,
    visitor_limit: int = VISITOR_PER_MINUTE,
    company_limit: int = COMPANY_PER_MINUTE,
) -> None:
    """Count one widget request against the visitor's and the company's minute; 429 when over."""
    keys = [f"widget:rl:company:{company_id}"]
    args: list[float | str] = [f"{time.time():.3f}", company_limit, company_limit / 60]
    if visitor:
        digest = hashlib.sha256(visitor.encode()).hexdigest()[:24]
        keys.append(f"widget:rl:visitor:{company_id}:{digest}")
        args += [visitor_limit, visitor_limit / 60]
    refused, retry_after = await redis.register_script(_BUCKETS)(keys=keys, args=args)
    retry = max(1, math.ceil(float(retry_after)))
    if int(refused) == 1:
        raise RateLimited("too many widget requests for this company; retry shortly", retry)
    if int(refused) == 2:
        raise RateLimited("too many requests from this visitor; retry shortly", retry)
