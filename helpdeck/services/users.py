"""Company users and their sign-in sessions: creation, login, logout, and who a token belongs to.

A session token is `hd_us_` plus 32 random bytes; only its SHA-256 is stored. Passwords are
scrypt hashes (see helpdeck/passwords.py), checked off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.errors import Conflict, NotFound, Unauthorized
from helpdeck.passwords import DUMMY_HASH, hash_password, verify_password
from helpdeck.tables import Company, User, UserSession

ROLES = ("owner", "admin", "agent", "analyst")
# Who may act on the queue (claim, reply, release, resolve, escalate); analysts only read.
QUEUE_ROLES = frozenset({"owner", "admin", "agent"})
MANAGER_ROLES = frozenset({"owner", "admin"})
SESSION_PREFIX = "hd_us_"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """A user behind a valid session token."""

    user: User
    company: Company
    session_id: uuid.UUID
    expires_at: datetime

    @property
    def company_id(self) -> uuid.UUID:
        return self.company.id


async def create_user(
    session: AsyncSession, company_id: uuid.UUID, email: str, name: str, role: str, password: str
) -> User:
    password_hash = await asyncio.to_thread(hash_password, password)
    user = User(company_id=company_id, email=email.strip().lower(), name=name, role=role, password_hash=password_hash)
    session.add(user)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict("a user with this email already exists", code="email_taken") from exc
    return user


async def list_users(session: AsyncSession, company_id: uuid.UUID) -> list[User]:
    rows = await session.exec(select(User).where(User.company_id == company_id).order_by(col(User.created_at)))
    return list(rows)


async def get_user(session: AsyncSession, company_id: uuid.UUID, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None or user.company_id != company_id:
        raise NotFound("no such user")
    return user


async def login(session: AsyncSession, email: str, password: str, lifetime: timedelta) -> tuple[str, SignedIn]:
    """A new session token for the right email and password; one 401 for every wrong case."""
    user = (await session.exec(select(User).where(User.email == email.strip().lower()))).first()
    ok = await asyncio.to_thread(verify_password, password, user.password_hash if user else DUMMY_HASH)
    if user is None or not ok:
        raise Unauthorized("wrong email or password", code="invalid_credentials")
    company = await session.get(Company, user.company_id)
    assert company is not None
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    row = UserSession(
        company_id=user.company_id, user_id=user.id, token_hash=_token_hash(token), expires_at=now + lifetime
    )
    user.last_login_at = now
    session.add(row)
    session.add(user)
    await session.commit()
    return token, SignedIn(user=user, company=company, session_id=row.id, expires_at=row.expires_at)


async def authenticate_session(session: AsyncSession, token: str) -> SignedIn:
    """The user behind a session token; 401 when unknown, expired or logged out."""
    if not token.startswith(SESSION_PREFIX) or len(token) > 200:
        raise Unauthorized("invalid session token")
    row = (
        await session.exec(
            select(UserSession, User, Company)
            .join(User, col(User.id) == col(UserSession.user_id))
            .join(Company, col(Company.id) == col(User.company_id))
            .where(UserSession.token_hash == _token_hash(token))
        )
    ).first()
    if row is None:
        raise Unauthorized("invalid session token")
    user_session, user, company = row
    if user_session.revoked_at is not None or user_session.expires_at <= datetime.now(UTC):
        raise Unauthorized("this session has expired; sign in again", code="session_expired")
    return SignedIn(user=user, company=company, session_id=user_session.id, expires_at=user_session.expires_at)


async def logout(session: AsyncSession, session_id: uuid.UUID) -> None:
    row = await session.get(UserSession, session_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        session.add(row)
        await session.commit()
