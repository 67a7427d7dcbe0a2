"""Dependencies declared once: the runtime, a database session, the calling company."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.errors import Forbidden, Unauthorized
from helpdeck.logs import company_id_var
from helpdeck.runtime import Runtime
from helpdeck.services.tenancy import Caller, authenticate

bearer = HTTPBearer(auto_error=False, description="A company API key (hd_sk_… or hd_pk_…)")


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    async with runtime.db.session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def get_caller(request: Request, session: SessionDep, credentials: Credentials) -> Caller:
    if credentials is None:
        raise Unauthorized("send a company API key as 'Authorization: Bearer KEY'")
    caller = await authenticate(session, credentials.credentials, request.headers.get("origin"))
    company_id_var.set(str(caller.company_id))
    if caller.key_kind == "publishable":
        from api.widget_guard import admit_visitor  # visitor token, rate limits, CORS

        await admit_visitor(request, caller.company)
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_server_caller(caller: CallerDep) -> Caller:
    """Routes a public widget key must never reach (key management, listing everything)."""
    if caller.key_kind != "secret":
        raise Forbidden("this route needs a secret key (hd_sk_…)")
    return caller


ServerCallerDep = Annotated[Caller, Depends(get_server_caller)]


async def require_admin(runtime: RuntimeDep, credentials: Credentials) -> None:
    token = runtime.settings.admin_token
    if credentials is None or not token or not hmac.compare_digest(credentials.credentials, token):
        raise Unauthorized("this route needs the platform admin token")


AdminDep = Annotated[None, Depends(require_admin)]
