"""Domain errors -> HTTP, in one table; FastAPI's validation error list -> one readable sentence."""

from __future__ import annotations

import logging
from typing import Any

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
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

# Most specific first: the first matching class wins.
STATUS_OF: tuple[tuple[type[AgnewsError], int], ...] = (
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
    """The inference service answered with an error we pass on as it is (status and detail)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.headers = headers or {}


def status_of(exc: AgnewsError) -> int:
    for cls, status in STATUS_OF:
        if isinstance(exc, cls):
            return status
    return 500


def validation_sentence(errors: list[Any]) -> str:
    """'texts: Field required; articles.0.title: Input should be a valid string' from FastAPI's list."""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
    return "invalid request: " + "; ".join(parts) if parts else "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AgnewsError)
    async def _domain(request: Request, exc: AgnewsError) -> JSONResponse:
        if isinstance(exc, UpstreamError):
            return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=exc.headers)
        status = status_of(exc)
        headers = {}
        if isinstance(exc, OverloadedError):
            headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
        if status >= 500:
            log.warning("%s %s -> %d: %s", request.method, request.url.path, status, exc)
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_sentence(list(exc.errors()))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)
