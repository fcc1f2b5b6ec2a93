"""The HTTP edge every agnews service shares: key guard, streaming body limit, error table, validation text.

Gateway and inference both build their apps with these, so a hostile request meets the same rules (and the
same `{"detail": "..."}` bodies) whichever service it reaches. Needs the `agnews-core[http]` extra.
"""

from agnews_core.http_edge.asgi import send_json_error, serve_bare
from agnews_core.http_edge.body_limit import BodyTooLargeError, StreamingBodyLimit
from agnews_core.http_edge.errors import (
    STATUS_OF,
    UpstreamError,
    install_error_handlers,
    retry_after,
    status_of,
    validation_sentence,
)
from agnews_core.http_edge.json_body import json_body, openapi_body
from agnews_core.http_edge.keys import (
    BearerDep,
    bearer_from_header,
    bearer_secret,
    forbidden,
    identify,
    missing_key,
    require_admin,
)

__all__ = [
    "STATUS_OF",
    "BearerDep",
    "BodyTooLargeError",
    "StreamingBodyLimit",
    "UpstreamError",
    "bearer_from_header",
    "bearer_secret",
    "forbidden",
    "identify",
    "install_error_handlers",
    "json_body",
    "missing_key",
    "openapi_body",
    "require_admin",
    "retry_after",
    "send_json_error",
    "serve_bare",
    "status_of",
    "validation_sentence",
]
