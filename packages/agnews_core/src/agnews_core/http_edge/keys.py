"""The key guard: who a Bearer key says the caller is, 401 without a key, 403 with a wrong one."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from agnews_core.auth import ApiKey, KeyRing

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <key>")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def bearer_from_header(authorization: str | None) -> HTTPAuthorizationCredentials | None:
    """What `BearerDep` gives, from the raw header: for handlers served without dependency solving."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)


def bearer_secret(creds: HTTPAuthorizationCredentials | None) -> str | None:
    return creds.credentials if creds is not None and creds.credentials else None


def missing_key(what: str) -> HTTPException:
    return HTTPException(
        401, f"{what} needs an API key: send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"}
    )


def forbidden(detail: str) -> HTTPException:
    return HTTPException(403, detail)


def identify(ring: KeyRing, creds: HTTPAuthorizationCredentials | None) -> ApiKey | None:
    """The caller's key; None when no key was sent; 403 for a key that is not configured."""
    secret = bearer_secret(creds)
    if secret is None:
        return None
    key = ring.lookup(secret)
    if key is None:
        raise forbidden("this API key is not valid")
    return key


def require_admin(ring: KeyRing, creds: HTTPAuthorizationCredentials | None, what: str = "this admin route") -> ApiKey:
    """An admin key, else 401 (none sent), 403 (not valid, or not an admin key, or no admin key configured)."""
    secret = bearer_secret(creds)
    if secret is None:
        raise missing_key(what)
    if not ring.has_role("admin"):
        raise forbidden("admin routes are disabled: no admin key is configured")
    key = ring.lookup(secret)
    if key is None or not key.admin:
        raise forbidden("this API key is not an admin key")
    return key
