"""Domain errors -> HTTP, in one table. Bodies are {"detail": "..."} like FastAPI's own errors."""

from __future__ import annotations

import logging

from agnews_core.errors import (
    AgnewsError,
    ConfigError,
    InvalidInputError,
    NotFoundError,
    NotReadyError,
    OverloadedError,
    PayloadTooLargeError,
    PromotionRefusedError,
    RegistryEmptyError,
    StorageError,
)
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

logger = logging.getLogger(__name__)

# Most specific first: the first matching class wins.
STATUS_BY_ERROR: tuple[tuple[type[AgnewsError], int], ...] = (
    (PayloadTooLargeError, 413),
    (InvalidInputError, 422),
    (OverloadedError, 429),
    (PromotionRefusedError, 409),
    (RegistryEmptyError, 503),
    (NotReadyError, 503),
    (StorageError, 503),
    (NotFoundError, 404),
    (ConfigError, 500),
    (AgnewsError, 500),
)


def status_for(exc: AgnewsError) -> int:
    return next(status for cls, status in STATUS_BY_ERROR if isinstance(exc, cls))


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AgnewsError)
    status = status_for(exc)
    if status >= 500 and status != 503:
        logger.error("%s %s failed: %s", request.method, request.url.path, exc)
    headers = {}
    if isinstance(exc, OverloadedError):
        headers["Retry-After"] = str(max(1, round(exc.retry_after_s)))
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    """422 with one readable sentence instead of FastAPI's list of error objects (the API's detail is a string)."""
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return JSONResponse({"detail": "invalid request: " + "; ".join(parts)}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AgnewsError, _handle)
    app.add_exception_handler(RequestValidationError, _validation)
