"""The gateway's error handling is the shared HTTP edge's (one table for every service); names kept here."""

from __future__ import annotations

from agnews_core.http_edge import STATUS_OF, UpstreamError, install_error_handlers, status_of, validation_sentence

__all__ = ["STATUS_OF", "UpstreamError", "install_error_handlers", "status_of", "validation_sentence"]
