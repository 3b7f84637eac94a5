"""Typed dependencies: settings, database, hub, and the caller's verified claims."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .auth import Claims
from .db import Database
from .errors import AuthError, ForbiddenError
from .hub import Hub
from .settings import Settings
from .streams import StreamLimiter

_bearer = HTTPBearer(auto_error=False, description="Supabase JWT (user access token or service role key)")


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_hub(request: Request) -> Hub:
    return request.app.state.hub


def get_limiter(request: Request) -> StreamLimiter:
    return request.app.state.limiter


async def get_claims(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    access_token: Annotated[
        str | None,
        Query(description="The token, for EventSource clients that cannot send headers", include_in_schema=True),
    ] = None,
) -> Claims:
    header = request.headers.get("authorization")
    if credentials is not None:
        token = credentials.credentials
    elif header:
        raise AuthError("malformed Authorization header: expected 'Bearer <token>'")
    elif access_token:
        token = access_token
    else:
        raise AuthError("missing token: send Authorization: Bearer <token> (or ?access_token= for EventSource)")
    return await request.app.state.verifier.verify(token)


async def get_service_claims(claims: Annotated[Claims, Depends(get_claims)]) -> Claims:
    if not claims.is_service:
        raise ForbiddenError("only the service role may write logs")
    return claims


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
Db = Annotated[Database, Depends(get_db)]
HubDep = Annotated[Hub, Depends(get_hub)]
Limiter = Annotated[StreamLimiter, Depends(get_limiter)]
CallerClaims = Annotated[Claims, Depends(get_claims)]
ServiceClaims = Annotated[Claims, Depends(get_service_claims)]
