"""A company's HTTP actions: the APIs its bot may call for a `transaction` (see README, Actions).
Secret keys only: an action carries the company's credentials for its own API."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.action_schemas import ActionCreate, ActionOut, ActionPage, ActionUpdate
from api.deps import RuntimeDep, ServerCallerDep, SessionDep
from helpdeck.channels.crypto import SecretBox
from helpdeck.services import actions
from helpdeck.tables import Action

router = APIRouter(prefix="/v1/actions", tags=["actions"])


def action_out(row: Action) -> ActionOut:
    return ActionOut(
        id=row.id,
        name=row.name,
        description=row.description,
        url=row.url,
        method=row.method,
        parameters=dict(row.parameters),
        headers=dict(row.header_hints),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ActionOut)
async def create_action(
    body: ActionCreate, caller: ServerCallerDep, session: SessionDep, runtime: RuntimeDep
) -> ActionOut:
    """Register an action. Its URL is checked against SSRF now and on every call."""
    row = await actions.create_action(
        session,
        SecretBox(runtime.settings.secret_key),
        caller.company_id,
        body.model_dump(),
        runtime.settings.allow_private_urls,
    )
    return action_out(row)


@router.get("", response_model=ActionPage)
async def list_actions(
    caller: ServerCallerDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ActionPage:
    rows, next_cursor = await actions.list_actions(session, caller.company_id, limit, cursor)
    return ActionPage(items=[action_out(r) for r in rows], next_cursor=next_cursor)


@router.get("/{action_id}", response_model=ActionOut)
async def get_action(action_id: uuid.UUID, caller: ServerCallerDep, session: SessionDep) -> ActionOut:
    return action_out(await actions.get_action(session, caller.company_id, action_id))


@router.patch("/{action_id}", response_model=ActionOut)
async def update_action(
    action_id: uuid.UUID, body: ActionUpdate, caller: ServerCallerDep, session: SessionDep, runtime: RuntimeDep
) -> ActionOut:
    """Change any field; the URL and parameters are checked together again."""
    changes = body.model_dump(exclude_unset=True)
    changes = {k: v for k, v in changes.items() if v is not None or k == "headers"}
    row = await actions.update_action(
        session,
        SecretBox(runtime.settings.secret_key),
        caller.company_id,
        action_id,
        changes,
        runtime.settings.allow_private_urls,
    )
    return action_out(row)


@router.delete("/{action_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_action(action_id: uuid.UUID, caller: ServerCallerDep, session: SessionDep) -> Response:
    await actions.delete_action(session, caller.company_id, action_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
