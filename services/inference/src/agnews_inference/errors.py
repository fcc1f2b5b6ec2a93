"""Inference's rows in front of the shared error table (agnews_core.http_edge): no model yet is 503."""

from __future__ import annotations

from agnews_core.errors import RegistryEmptyError
from agnews_core.http_edge import install_error_handlers as _install
from fastapi import FastAPI

# the registry holding no champion is "not ready" here (the gateway shows the same error as a 404)
OVERRIDES = ((RegistryEmptyError, 503),)


def install_error_handlers(app: FastAPI) -> None:
    _install(app, OVERRIDES)
