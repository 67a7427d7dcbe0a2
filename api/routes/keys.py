"""A company's API keys: created and rotated keys are shown once; only hashes are kept."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi import APIRouter, Response, status

from api.deps import ServerCallerDep, SessionDep
from api.schemas import KeyCreate, KeyCreated, KeyList, KeyOut, KeyRotate
from helpdeck.services import tenancy
from helpdeck.tables import ApiKey

router = APIRouter(prefix="/v1/keys", tags=["keys"])


def key_out(row: ApiKey) -> KeyOut:
    return KeyOut.model_validate(row, from_attributes=True)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
async def create_key(body: KeyCreate, caller: ServerCallerDep, session: SessionDep) -> KeyCreated:
    row, raw = await tenancy.create_key(
        session,
        caller.company_id,
        body.kind,
        name=body.name,
        allowed_origins=body.allowed_origins,
        expires_at=body.expires_at,
    )
    return KeyCreated(**key_out(row).model_dump(), key=raw)


@router.get("", response_model=KeyList)
async def list_keys(caller: ServerCallerDep, session: SessionDep) -> KeyList:
    return KeyList(items=[key_out(r) for r in await tenancy.list_keys(session, caller.company_id)])


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_key(key_id: uuid.UUID, caller: ServerCallerDep, session: SessionDep) -> Response:
    await tenancy.revoke_key(session, caller.company_id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{key_id}/rotate", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
async def rotate_key(
    key_id: uuid.UUID, caller: ServerCallerDep, session: SessionDep, body: KeyRotate | None = None
) -> KeyCreated:
    """A replacement key; the old one keeps working for `grace_seconds` (default a day)."""
    grace = timedelta(seconds=(body or KeyRotate()).grace_seconds)
    row, raw = await tenancy.rotate_key(session, caller.company_id, key_id, grace)
    return KeyCreated(**key_out(row).model_dump(), key=raw)
