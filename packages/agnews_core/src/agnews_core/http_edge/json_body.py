"""A JSON body read and validated by hand, with the 422 sentences FastAPI's own body parameters would give.

The classify routes are the hot path of both services: declaring `body: Model` makes FastAPI parse, validate
and re-wrap the body through its dependency machinery, which on a 2-core box is a sizeable share of a
request's CPU (bench/bench_gateway_overhead.py). Hot routes take the Request, call `json_body`, and document
the body with `openapi_body` so the schema (and the fuzz tests built on it) stays the same.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

M = TypeVar("M", bound=BaseModel)


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


async def json_body(request: Request, model: type[M]) -> M:
    """The request body as `model`: 415 for a declared non-JSON type, 422 (with a readable sentence) otherwise."""
    content_type = request.headers.get("content-type")
    if content_type is not None and not _is_json(content_type):
        raise StarletteHTTPException(415, f"send the body as application/json, not {content_type[:100]!r}")
    raw = await request.body()
    try:
        # stdlib json, not pydantic's parser: it keeps escaped lone surrogates, which the schema then scrubs
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        message = f"the body is not valid JSON ({type(exc).__name__}: {str(exc)[:200]})"
        raise RequestValidationError([{"loc": ("body",), "msg": message, "type": "json_invalid"}]) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting `model` as the required JSON body, its $defs inlined (no shared components)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}
