"""Platform administration: creating companies. Needs the admin token."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import AdminDep, SessionDep
from api.schemas import CompanyCreate, CompanyCreated, CompanyOut
from helpdeck.services import tenancy

router = APIRouter(prefix="/v1/companies", tags=["admin"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CompanyCreated)
async def create_company(body: CompanyCreate, _: AdminDep, session: SessionDep) -> CompanyCreated:
    company, key = await tenancy.create_company(session, body.name, body.tier, body.settings)
    return CompanyCreated(id=company.id, name=company.name, tier=company.tier, api_key=key)


@router.get("", response_model=list[CompanyOut])
async def list_companies(_: AdminDep, session: SessionDep) -> list[CompanyOut]:
    return [CompanyOut.model_validate(c, from_attributes=True) for c in await tenancy.list_companies(session)]
