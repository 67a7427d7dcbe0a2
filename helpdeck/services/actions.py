"""A company's HTTP actions: register, list, read, change, delete.

Header values are sealed with the platform's secret key and only ever shown masked. The URL is
SSRF-checked at registration (and again on every call); private targets need the platform's
`allow_private_urls` or the company's `allow_private_action_urls` setting. Every function is
scoped by company: a foreign id is indistinguishable from an unknown one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.actions.definition import check_action_url, check_headers, check_parameters, mask
from helpdeck.channels.crypto import SecretBox
from helpdeck.errors import Conflict, NotFound
from helpdeck.services.conversations import decode_cursor, encode_cursor
from helpdeck.tables import Action, Company

MAX_ACTIONS_PER_COMPANY = 100


def private_targets_allowed(platform_allows: bool, company_settings: dict) -> bool:
    return platform_allows or bool(company_settings.get("allow_private_action_urls"))


async def _allow_private(session: AsyncSession, company_id: uuid.UUID, platform_allows: bool) -> bool:
    company = await session.get(Company, company_id)
    return private_targets_allowed(platform_allows, dict(company.settings) if company else {})


def _seal(box: SecretBox, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    if not headers:
        return "", {}
    return box.seal(headers), {name: mask(value) for name, value in headers.items()}


def open_headers(box: SecretBox, action: Action) -> dict[str, str]:
    return box.open(action.sealed_headers) if action.sealed_headers else {}


async def create_action(
    session: AsyncSession, box: SecretBox, company_id: uuid.UUID, fields: dict, platform_allows_private: bool
) -> Action:
    """Checks everything before writing anything; a taken name is a 409 `action_name_taken`."""
    parameters = check_parameters(fields.get("parameters") or {"type": "object", "properties": {}})
    headers = check_headers(fields.get("headers") or {})
    allow_private = await _allow_private(session, company_id, platform_allows_private)
    await check_action_url(fields["url"], parameters, allow_private)
    count = (await session.exec(select(func.count()).select_from(Action).where(Action.company_id == company_id))).one()
    if count >= MAX_ACTIONS_PER_COMPANY:
        raise Conflict(f"a company may have at most {MAX_ACTIONS_PER_COMPANY} actions", code="action_limit_reached")
    sealed, hints = _seal(box, headers)
    action = Action(
        company_id=company_id,
        name=fields["name"],
        description=fields.get("description", ""),
        url=fields["url"],
        method=fields.get("method", "GET"),
        parameters=parameters,
        sealed_headers=sealed,
        header_hints=hints,
    )
    session.add(action)
    await _commit(session, fields["name"])
    return action


async def _commit(session: AsyncSession, name: str) -> None:
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        if "uq_actions_company_name" in str(exc.orig):
            raise Conflict(f"an action named {name!r} already exists", code="action_name_taken") from None
        raise


async def list_actions(
    session: AsyncSession, company_id: uuid.UUID, limit: int = 50, cursor: str | None = None
) -> tuple[list[Action], str | None]:
    """Oldest first; keyset-paginated by (created_at, id)."""
    query = select(Action).where(Action.company_id == company_id)
    if cursor:
        created_at, row_id = decode_cursor(cursor)
        query = query.where(
            (col(Action.created_at) > created_at)
            | ((col(Action.created_at) == created_at) & (col(Action.id) > row_id))
        )
    rows = list(await session.exec(query.order_by(col(Action.created_at), col(Action.id)).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id)
    return rows, next_cursor


async def all_actions(session: AsyncSession, company_id: uuid.UUID) -> list[Action]:
    rows = await session.exec(
        select(Action).where(Action.company_id == company_id).order_by(col(Action.created_at)).limit(
            MAX_ACTIONS_PER_COMPANY
        )
    )
    return list(rows)


async def get_action(session: AsyncSession, company_id: uuid.UUID, action_id: uuid.UUID) -> Action:
    action = await session.get(Action, action_id)
    if action is None or action.company_id != company_id:
        raise NotFound("no such action")
    return action


async def update_action(
    session: AsyncSession,
    box: SecretBox,
    company_id: uuid.UUID,
    action_id: uuid.UUID,
    changes: dict,
    platform_allows_private: bool,
) -> Action:
    """Apply the given fields; the result is checked as a whole (URL against the new schema)."""
    action = await get_action(session, company_id, action_id)
    parameters = check_parameters(changes["parameters"]) if "parameters" in changes else action.parameters
    url = changes.get("url", action.url)
    if "url" in changes or "parameters" in changes:
        await check_action_url(url, parameters, await _allow_private(session, company_id, platform_allows_private))
    if "headers" in changes:
        action.sealed_headers, action.header_hints = _seal(box, check_headers(changes["headers"] or {}))
    for name in ("name", "description", "method"):
        if name in changes:
            setattr(action, name, changes[name])
    action.url, action.parameters = url, parameters
    action.updated_at = datetime.now(UTC)
    session.add(action)
    await _commit(session, action.name)
    return action


async def delete_action(session: AsyncSession, company_id: uuid.UUID, action_id: uuid.UUID) -> None:
    action = await get_action(session, company_id, action_id)
    await session.delete(action)
    await session.commit()
