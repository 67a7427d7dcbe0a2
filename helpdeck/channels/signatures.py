"""Each platform's own request signature scheme, checked before a request is believed.

Slack: `v0=` + HMAC-SHA256 of `v0:{timestamp}:{raw body}` with the app's signing secret.
Discord: Ed25519 over `{timestamp}{raw body}` with the application's public key.
Both refuse timestamps more than five minutes away from now, so a captured request goes stale.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from helpdeck.errors import Unauthorized

MAX_AGE_S = 300


def _check_timestamp(raw: str | None, now: float | None) -> None:
    if not raw or not raw.isdigit() or len(raw) > 12:
        raise Unauthorized("missing or malformed request timestamp", code="invalid_signature")
    if abs((now if now is not None else time.time()) - int(raw)) > MAX_AGE_S:
        raise Unauthorized("the request is older than five minutes", code="stale_request")


def verify_slack(
    signing_secret: str, timestamp: str | None, body: bytes, signature: str | None, now: float | None = None
) -> None:
    """Raise Unauthorized unless X-Slack-Signature matches the body and the timestamp is fresh."""
    _check_timestamp(timestamp, now)
    if not signature or not signature.startswith("v0="):
        raise Unauthorized("missing or malformed X-Slack-Signature", code="invalid_signature")
    base = b"v0:" + str(timestamp).encode() + b":" + body
    expected = "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise Unauthorized("the Slack signature does not match", code="invalid_signature")


def verify_discord(
    public_key_hex: str, timestamp: str | None, body: bytes, signature: str | None, now: float | None = None
) -> None:
    """Raise Unauthorized unless X-Signature-Ed25519 signs timestamp + body and is fresh."""
    _check_timestamp(timestamp, now)
    try:
        signature_bytes = bytes.fromhex(signature or "")
        if len(signature_bytes) != 64:
            raise ValueError("an Ed25519 signature is 64 bytes")
        VerifyKey(bytes.fromhex(public_key_hex)).verify(str(timestamp).encode() + body, signature_bytes)
    except (ValueError, BadSignatureError):
        raise Unauthorized("the Discord signature does not match", code="invalid_signature") from None


def valid_ed25519_public_key(value: str) -> bool:
    try:
        VerifyKey(bytes.fromhex(value))
    except (ValueError, TypeError):
        return False
    return True
