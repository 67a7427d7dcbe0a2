"""Who is acting on the agent routes: a signed-in company user (`hd_us_…` session token) or a
company API key, and which of them each route admits. Roles: owner and admin may do everything,
agents work the queue, analysts only read (403 `forbidden_role` on any action)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api.deps import Credentials, SessionDep
from helpdeck.errors import Forbidden, Unauthorized
from helpdeck.logs import company_id_var
from helpdeck.services.tenancy import authenticate
from helpdeck.services.users import MANAGER_ROLES, QUEUE_ROLES, SESSION_PREFIX, SignedIn, authenticate_session
from helpdeck.tables import Company, User


@dataclass(frozen=True)
class Actor:
    company: Company
    role: str  # owner | admin | agent | analyst | secret_key | publishable_key
    user: User | None = None
    session_id: uuid.UUID | None = None

    @property
    def company_id(self) -> uuid.UUID:
        return self.company.id

    @property
    def user_id(self) -> str | None:
        return str(self.user.id) if self.user else None

    @property
    def is_manager(self) -> bool:
        return self.role in MANAGER_ROLES or self.role == "secret_key"

    @property
    def label(self) -> str:
        return f"user:{self.user.id}" if self.user else "api"


async def get_actor(request: Request, session: SessionDep, credentials: Credentials) -> Actor:
    if credentials is None:
        raise Unauthorized("send a session token or a company API key as 'Authorization: Bearer …'")
    token = credentials.credentials
    if token.startswith(SESSION_PREFIX):
        signed_in: SignedIn = await authenticate_session(session, token)
        actor = Actor(signed_in.company, signed_in.user.role, signed_in.user, signed_in.session_id)
    else:
        caller = await authenticate(session, token, request.headers.get("origin"))
        actor = Actor(caller.company, f"{caller.key_kind}_key")
        if caller.key_kind == "publishable":
            from api.widget_guard import admit_visitor  # visitor token, rate limits, CORS

            await admit_visitor(request, caller.company)
    company_id_var.set(str(actor.company_id))
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]


def _forbidden_role(actor: Actor, what: str) -> Forbidden:
    return Forbidden(f"the {actor.role} role may not {what}", code="forbidden_role", role=actor.role)


async def get_signed_in(actor: ActorDep) -> Actor:
    if actor.user is None:
        raise Unauthorized("this route needs a signed-in user's session token (POST /v1/auth/login)")
    return actor


async def get_queue_reader(actor: ActorDep) -> Actor:
    """Reading the queue: any signed-in user, or a secret key."""
    if actor.role == "publishable_key":
        raise Forbidden("this route needs a session token or a secret key (hd_sk_…)")
    return actor


async def get_queue_agent(actor: ActorDep) -> Actor:
    """Claiming, replying, releasing: a signed-in owner, admin or agent."""
    if actor.user is None:
        raise Forbidden("this action needs a signed-in agent's session token (POST /v1/auth/login)")
    if actor.role not in QUEUE_ROLES:
        raise _forbidden_role(actor, "act on escalations")
    return actor


async def get_resolver(actor: ActorDep) -> Actor:
    """Resolving: a signed-in owner, admin or agent, or a server with a secret key."""
    if actor.role == "secret_key":
        return actor
    return await get_queue_agent(actor)


async def get_escalator(actor: ActorDep) -> Actor:
    """Escalating a conversation: any company key (the widget's too), or a queue user."""
    if actor.user is not None and actor.role not in QUEUE_ROLES:
        raise _forbidden_role(actor, "escalate conversations")
    return actor


async def get_user_manager(actor: ActorDep) -> Actor:
    """Managing users: a secret key, or a signed-in owner or admin."""
    if actor.role == "secret_key" or actor.role in MANAGER_ROLES:
        return actor
    if actor.user is not None:
        raise _forbidden_role(actor, "manage users")
    raise Forbidden("this route needs a secret key (hd_sk_…) or an owner's or admin's session")


SignedInDep = Annotated[Actor, Depends(get_signed_in)]
QueueReaderDep = Annotated[Actor, Depends(get_queue_reader)]
QueueAgentDep = Annotated[Actor, Depends(get_queue_agent)]
ResolverDep = Annotated[Actor, Depends(get_resolver)]
EscalatorDep = Annotated[Actor, Depends(get_escalator)]
UserManagerDep = Annotated[Actor, Depends(get_user_manager)]
