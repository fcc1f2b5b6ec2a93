"""Watch one named object until a predicate decides, with a deadline; resumes after watch expiry or 410 Gone."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)
T = TypeVar("T")


class WatchTimeout(TimeoutError):
    """The object did not reach a final state before the deadline."""


def watch_object(
    list_fn: Callable[..., Any],
    namespace: str,
    name: str,
    decide: Callable[[Any], T | None],
    timeout_s: float,
    *,
    max_watch_s: int = 60,
) -> T:
    """Call decide(obj) on the current object and on every change; return its first non-None answer.

    list_fn is a namespaced list call (e.g. AppsV1Api.list_namespaced_deployment); the watch is
    restricted to metadata.name so that other objects never wake it up.
    """
    deadline = time.monotonic() + timeout_s
    selector = f"metadata.name={name}"
    resource_version = ""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WatchTimeout(f"{name}: no final state after {timeout_s:g}s")
        if not resource_version:
            listing = list_fn(namespace, field_selector=selector)
            if listing.items:
                answer = decide(listing.items[0])
                if answer is not None:
                    return answer
            resource_version = listing.metadata.resource_version
        w = watch.Watch()
        try:
            for event in w.stream(
                list_fn,
                namespace,
                field_selector=selector,
                resource_version=resource_version,
                timeout_seconds=max(1, min(int(remaining), max_watch_s)),
                _request_timeout=min(remaining, max_watch_s) + 5,
            ):
                obj = event["object"]
                if event["type"] == "ERROR":
                    resource_version = ""  # expired: list again
                    break
                resource_version = obj.metadata.resource_version
                if event["type"] == "DELETED":
                    raise RuntimeError(f"{name} was deleted while being watched")
                answer = decide(obj)
                if answer is not None:
                    return answer
                if time.monotonic() >= deadline:
                    break
        except ApiException as exc:
            if exc.status != 410:
                raise
            log.debug("watch of %s expired, listing again", name)
            resource_version = ""
        except Exception as exc:  # urllib3 read timeout at the end of a quiet watch
            if "timed out" not in str(exc).lower():
                raise
        finally:
            w.stop()
