"""Domain errors -> HTTP status in one table; FastAPI's validation error list -> one readable sentence."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from agnews_core.errors import (
    AgnewsError,
    ConfigError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    NotReadyError,
    OverloadedError,
    PayloadTooLargeError,
    PromotionRefusedError,
    StorageError,
)

log = logging.getLogger(__name__)

ErrorTable = Sequence[tuple[type[AgnewsError], int]]

# Most specific first: the first matching class wins. A service puts its own rows in front (`overrides`).
STATUS_OF: ErrorTable = (
    (PayloadTooLargeError, 413),
    (InvalidInputError, 422),
    (NotFoundError, 404),
    (ConflictError, 409),
    (PromotionRefusedError, 409),
    (OverloadedError, 429),
    (NotReadyError, 503),
    (StorageError, 503),
    (ConfigError, 500),
)


class UpstreamError(AgnewsError):
    """A service behind this one answered with an error we pass on as it is (status and detail)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.headers = headers or {}


def retry_after(exc: OverloadedError) -> str:
    """The Retry-After header value of a 429: whole seconds, at least 1 (handlers and pre-routing checks alike)."""
    return str(max(1, round(exc.retry_after_s)))


def status_of(exc: AgnewsError, table: ErrorTable = STATUS_OF) -> int:
    if isinstance(exc, UpstreamError):
        return exc.status
    return next((status for cls, status in table if isinstance(exc, cls)), 500)


def validation_sentence(errors: Sequence[Any]) -> str:
    """'texts: Field required; articles.0.title: Input should be a valid string' from FastAPI's list."""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
    return "invalid request: " + "; ".join(parts) if parts else "invalid request"


def install_error_handlers(app: FastAPI, overrides: ErrorTable = ()) -> None:
    """Every error leaves as {"detail": "..."}; unexpected exceptions as a logged 500 that names nothing inside."""
    table = (*overrides, *STATUS_OF)

    async def domain(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AgnewsError)
        status = status_of(exc, table)
        headers = dict(exc.headers) if isinstance(exc, UpstreamError) else {}
        if isinstance(exc, OverloadedError):
            headers["Retry-After"] = retry_after(exc)
        if status >= 500 and not isinstance(exc, UpstreamError):
            log.warning("%s %s -> %d: %s", request.method, request.url.path, status, exc)
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    async def validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"detail": validation_sentence(list(exc.errors()))}, status_code=422)

    async def http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; it has been logged"}, status_code=500)

    app.add_exception_handler(AgnewsError, domain)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)
    app.add_exception_handler(Exception, unexpected)
