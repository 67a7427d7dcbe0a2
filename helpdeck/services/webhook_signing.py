"""Standard Webhooks signing secrets: generation, rotation with an overlap window, encryption
at rest, and the headers of one signed request.

A secret is `whsec_` + base64 of 24 random bytes. The signature is
`v1,` + base64(HMAC-SHA256(secret bytes, "{webhook-id}.{webhook-timestamp}.{body}")); during a
rotation's overlap every unexpired secret signs, space-separated, as the spec allows, so a
receiver holding either the old or the new secret accepts the request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from helpdeck.channels.crypto import SecretBox

SECRET_PREFIX = "whsec_"


@dataclass(frozen=True)
class SigningSecret:
    secret: str
    expires_at: datetime | None = None  # set on the old secret when it is rotated out

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def seal(box: SecretBox, signing_secrets: list[SigningSecret]) -> str:
    items = [
        {"secret": s.secret, "expires_at": s.expires_at.isoformat() if s.expires_at else None} for s in signing_secrets
    ]
    return box.seal_text(json.dumps(items))


def unseal(box: SecretBox, sealed: str) -> list[SigningSecret]:
    return [
        SigningSecret(item["secret"], datetime.fromisoformat(item["expires_at"]) if item["expires_at"] else None)
        for item in json.loads(box.open_text(sealed))
    ]


def rotated(current: list[SigningSecret], now: datetime, overlap: timedelta) -> tuple[list[SigningSecret], str]:
    """A new secret first; the still-active old ones expire after `overlap` (or now)."""
    fresh = new_secret()
    retire_at = now + overlap
    kept = [
        SigningSecret(s.secret, min(s.expires_at, retire_at) if s.expires_at else retire_at)
        for s in current
        if s.active(now) and overlap > timedelta(0)
    ]
    return [SigningSecret(fresh), *kept], fresh


def signature_header(signing_secrets: list[str], webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    parts = []
    for secret in signing_secrets:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
        digest = hmac.new(key, signed, hashlib.sha256).digest()
        parts.append("v1," + base64.b64encode(digest).decode())
    return " ".join(parts)


def signed_headers(signing_secrets: list[str], webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "Helpdeck-Webhooks/1",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(signing_secrets, webhook_id, timestamp, body),
    }
