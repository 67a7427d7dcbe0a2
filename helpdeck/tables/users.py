"""Company users (owners, admins, agents, analysts) and their sign-in sessions.

Passwords are kept only as scrypt hashes; session tokens only as SHA-256 hashes (a token carries
256 random bits, so a fast hash is enough and keeps authentication to one indexed lookup).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from helpdeck.tables._columns import new_id, timestamp_column, utcnow


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="companies.id", index=True, ondelete="CASCADE")
    # Lower-cased; unique across the platform, so signing in needs only email and password.
    email: str = Field(max_length=320, unique=True)
    name: str = Field(max_length=255)
    role: str = Field(max_length=20)  # owner | admin | agent | analyst
    password_hash: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    last_login_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))


class UserSession(SQLModel, table=True):
    """One sign-in: a bearer token (`hd_us_…`) that expires and can be revoked by logging out."""

    __tablename__ = "user_sessions"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="companies.id", ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    expires_at: datetime = Field(sa_column=timestamp_column())
    revoked_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
