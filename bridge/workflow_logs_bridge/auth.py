"""Supabase JWT verification: HS256 with the project secret, asymmetric keys from a JWKS URL."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

import anyio
import jwt

from .errors import AuthError, Unavailable
from .settings import Settings

_ASYMMETRIC = {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "EdDSA"}
_ROLES = {"authenticated", "service_role", "anon"}


@dataclass(frozen=True)
class Claims:
    """The verified claims of a request, as PostgREST would hand them to Postgres."""

    role: str
    sub: str | None
    raw: dict[str, Any] = field(repr=False)

    @functools.cached_property
    def json(self) -> str:
        """The claims as request.jwt.claims (computed once: the live path asks per stream per wave)."""
        return json.dumps(self.raw, separators=(",", ":"), default=str)

    @property
    def identity(self) -> str:
        """Who counts against per-user limits."""
        return self.sub or self.role

    @property
    def is_service(self) -> bool:
        return self.role == "service_role"


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self._secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        self._audience = settings.jwt_audience
        self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=600) if settings.jwks_url else None

    async def verify(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed token") from None
        alg = header.get("alg")
        if not alg or str(alg).lower() == "none":
            raise AuthError("unsigned tokens (alg none) are refused")
        if alg == "HS256":
            if self._secret is None:
                raise AuthError("HS256 tokens are not accepted by this server")
            key: Any = self._secret
        elif alg in _ASYMMETRIC:
            if self._jwks is None:
                raise AuthError(f"{alg} tokens are not accepted by this server (no JWKS configured)")
            try:
                signing_key = await anyio.to_thread.run_sync(self._jwks.get_signing_key_from_jwt, token)
            except jwt.PyJWKClientConnectionError as exc:
                raise Unavailable(f"cannot fetch the signing keys (JWKS): {exc}", headers={"Retry-After": "5"}) from None
            except jwt.PyJWKClientError as exc:
                raise AuthError(f"no signing key for this token: {exc}") from None
            key = signing_key.key
        else:
            raise AuthError(f"unsupported token algorithm {alg}")
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[alg],
                options={"require": ["exp"], "verify_aud": False},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.InvalidSignatureError:
            raise AuthError("invalid token signature") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token is missing the {exc.claim} claim") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        role = payload.get("role")
        if role not in _ROLES:
            raise AuthError(f"token role must be one of {', '.join(sorted(_ROLES))}")
        if role == "authenticated":
            aud = payload.get("aud")
            auds = aud if isinstance(aud, list) else [aud]
            if self._audience not in auds:
                raise AuthError(f"token audience must be {self._audience}")
            if not payload.get("sub"):
                raise AuthError("token has no sub claim")
        return Claims(role=role, sub=payload.get("sub"), raw=payload)


def mint_token(secret: str, *, sub: str | None, role: str = "authenticated", ttl_seconds: int = 3600) -> str:
    """An HS256 token like Supabase Auth issues (for development and tests)."""
    import time

    now = int(time.time())
    payload: dict[str, Any] = {"role": role, "iat": now, "exp": now + ttl_seconds, "iss": "workflow-logs-dev"}
    if role == "authenticated":
        payload["aud"] = "authenticated"
    if sub:
        payload["sub"] = sub
    return jwt.encode(payload, secret, algorithm="HS256")
