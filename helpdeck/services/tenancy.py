"""Companies and API keys: creation, listing, revocation, rotation, and authentication.

A key is `hd_sk_` (secret, for servers) or `hd_pk_` (publishable, for the widget) followed by
32 random bytes. Only its SHA-256 is stored: the key carries 256 bits of entropy, so a plain
hash is as strong as a slow KDF here and keeps authentication to one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from helpdeck.tables import ApiKey, Company

KEY_PREFIXES = {"secret": "hd_sk_", "publishable": "hd_pk_"}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key(kind: str) -> str:
    return KEY_PREFIXES[kind] + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Caller:
    """Who is calling: a company through one of its keys."""

    company: Company
    key_id: uuid.UUID
    key_kind: str  # secret | publishable

    @property
    def company_id(self) -> uuid.UUID:
        return self.company.id


async def create_company(
    session: AsyncSession, name: str, tier: str, settings: dict | None = None
) -> tuple[Company, str]:
    """A company with its first secret key; the key is returned once and never again."""
    company = Company(name=name, tier=tier, settings=settings or {})
    session.add(company)
    await session.flush()
    api_key, raw = _build_key(company.id, "secret", name="initial")
    session.add(api_key)
    await session.commit()
    return company, raw


def _build_key(
    company_id: uuid.UUID,
    kind: str,
    *,
    name: str = "",
    allowed_origins: list[str] | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    raw = _new_key(kind)
    api_key = ApiKey(
        company_id=company_id,
        kind=kind,
        prefix=raw[:12],
        key_hash=hash_key(raw),
        name=name,
        allowed_origins=allowed_origins or [],
        expires_at=expires_at,
    )
    return api_key, raw


async def create_key(
    session: AsyncSession,
    company_id: uuid.UUID,
    kind: str,
    *,
    name: str = "",
    allowed_origins: list[str] | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    if kind == "publishable" and not allowed_origins:
        raise InvalidInput("a publishable key needs at least one allowed origin", field="allowed_origins")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise InvalidInput("expires_at must be in the future", field="expires_at")
    api_key, raw = _build_key(company_id, kind, name=name, allowed_origins=allowed_origins, expires_at=expires_at)
    session.add(api_key)
    await session.commit()
    return api_key, raw


async def list_keys(session: AsyncSession, company_id: uuid.UUID) -> list[ApiKey]:
    rows = await session.exec(
        select(ApiKey)
        .where(ApiKey.company_id == company_id, col(ApiKey.revoked_at).is_(None))
        .order_by(col(ApiKey.created_at))
    )
    return list(rows)


async def get_key(session: AsyncSession, company_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    key = await session.get(ApiKey, key_id)
    if key is None or key.company_id != company_id or key.revoked_at is not None:
        raise NotFound("no such key")
    return key


async def revoke_key(session: AsyncSession, company_id: uuid.UUID, key_id: uuid.UUID) -> None:
    key = await get_key(session, company_id, key_id)
    key.revoked_at = datetime.now(UTC)
    session.add(key)
    await session.commit()


async def rotate_key(
    session: AsyncSession, company_id: uuid.UUID, key_id: uuid.UUID, grace: timedelta
) -> tuple[ApiKey, str]:
    """A new key with the same kind and origins; the old one keeps working for `grace`."""
    old = await get_key(session, company_id, key_id)
    new, raw = _build_key(company_id, old.kind, name=old.name, allowed_origins=list(old.allowed_origins))
    retire_at = datetime.now(UTC) + grace
    if old.expires_at is None or old.expires_at > retire_at:
        old.expires_at = retire_at
    session.add(old)
    session.add(new)
    await session.commit()
    return new, raw


async def authenticate(session: AsyncSession, raw_key: str, origin: str | None) -> Caller:
    """The caller behind a key; 401 for unknown, revoked or expired keys, whatever the reason."""
    if not raw_key.startswith(tuple(KEY_PREFIXES.values())) or len(raw_key) > 200:
        raise Unauthorized("invalid API key")
    row = (
        await session.exec(
            select(ApiKey, Company)
            .join(Company, col(Company.id) == col(ApiKey.company_id))
            .where(ApiKey.key_hash == hash_key(raw_key))
        )
    ).first()
    if row is None:
        raise Unauthorized("invalid API key")
    key, company = row
    now = datetime.now(UTC)
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        raise Unauthorized("invalid API key")
    if key.kind == "publishable":
        if origin is None or origin.rstrip("/") not in {o.rstrip("/") for o in key.allowed_origins}:
            raise Forbidden("this publishable key is not allowed from this origin")
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=5):
        # Coarse on purpose: one write per key per five minutes, not one per request.
        await session.exec(  # type: ignore[call-overload]
            update(ApiKey).where(col(ApiKey.id) == key.id).values(last_used_at=now)
        )
        await session.commit()
    return Caller(company=company, key_id=key.id, key_kind=key.kind)


async def list_companies(session: AsyncSession) -> list[Company]:
    return list(await session.exec(select(Company).order_by(col(Company.created_at))))
