"""`kubectl rollout restart` + `kubectl rollout status` for a Deployment, with the kubernetes client."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from agnews_deploy.watching import watch_object

log = logging.getLogger(__name__)

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class RolloutFailed(RuntimeError):
    """The Deployment controller gave up (progress deadline exceeded)."""


@dataclass(frozen=True)
class RolloutState:
    done: bool
    message: str


def restart(apps: client.AppsV1Api, namespace: str, name: str, now: datetime | None = None) -> str:
    """Patch the pod template annotation kubectl uses; the controller then replaces every pod.

    Returns the timestamp written (RFC 3339, UTC).
    """
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
    apps.patch_namespaced_deployment(name, namespace, body)
    log.info("deployment/%s restart requested at %s", name, stamp)
    return stamp


def rollout_state(deployment: Any) -> RolloutState:
    """The same decision as kubectl's DeploymentStatusViewer."""
    meta, spec, status = deployment.metadata, deployment.spec, deployment.status
    name = meta.name
    observed = (status.observed_generation or 0) if status else 0
    if (meta.generation or 0) > observed:
        return RolloutState(False, "Waiting for deployment spec update to be observed...")
    for cond in (status.conditions or []) if status else []:
        if cond.type == "Progressing" and cond.reason == "ProgressDeadlineExceeded":
            raise RolloutFailed(f'deployment "{name}" exceeded its progress deadline')
    want = spec.replicas if spec.replicas is not None else 1
    updated = status.updated_replicas or 0
    replicas = status.replicas or 0
    available = status.available_replicas or 0
    waiting = f'Waiting for deployment "{name}" rollout to finish:'
    if updated < want:
        return RolloutState(False, f"{waiting} {updated} out of {want} new replicas have been updated...")
    if replicas > updated:
        return RolloutState(False, f"{waiting} {replicas - updated} old replicas are pending termination...")
    if available < updated:
        return RolloutState(False, f"{waiting} {available} of {updated} updated replicas are available...")
    return RolloutState(True, f'deployment "{name}" successfully rolled out')


def wait_for_rollout(
    apps: client.AppsV1Api,
    namespace: str,
    name: str,
    timeout_s: float,
    on_progress: Callable[[str], None] | None = None,
) -> str:
    """Block until the rollout completes; raise RolloutFailed or WatchTimeout otherwise."""
    last: list[str] = []

    def decide(dep: Any) -> str | None:
        state = rollout_state(dep)
        if not last or last[-1] != state.message:
            last.append(state.message)
            if on_progress:
                on_progress(state.message)
        return state.message if state.done else None

    return watch_object(apps.list_namespaced_deployment, namespace, name, decide, timeout_s)
