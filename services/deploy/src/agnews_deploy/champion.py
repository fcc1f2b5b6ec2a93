"""Which model version each inference pod serves, read from its /metrics (agnews_model_info) via the API server."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)

Fetch = Callable[[Any], str]


@dataclass(frozen=True)
class PodChampion:
    pod: str
    phase: str
    ready: bool
    version: str | None
    kind: str | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_model_info(metrics_text: str) -> tuple[str | None, str | None]:
    """(version, kind) of the agnews_model_info sample whose value is 1; (None, None) when no model is loaded."""
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "agnews_model_info":
            continue
        for sample in family.samples:
            if sample.name == "agnews_model_info" and sample.value == 1:
                return sample.labels.get("version"), sample.labels.get("kind")
    return None, None


def _http_port(pod: Any) -> int | str:
    for container in pod.spec.containers:
        for port in container.ports or []:
            if port.name == "http":
                return int(port.container_port)
    return 8001


def proxy_fetch(core: client.CoreV1Api) -> Fetch:
    """Fetch a pod's /metrics through the API server's pod proxy (needs RBAC pods/proxy get)."""

    def fetch(pod: Any) -> str:
        text: Any = core.connect_get_namespaced_pod_proxy_with_path(
            f"{pod.metadata.name}:{_http_port(pod)}", pod.metadata.namespace, "metrics", _request_timeout=10
        )
        return text if isinstance(text, str) else str(text)

    return fetch


def _is_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def champions(core: client.CoreV1Api, namespace: str, selector: str, fetch: Fetch | None = None) -> list[PodChampion]:
    """One entry per inference pod, sorted by name; unreachable pods carry the error instead of a version."""
    fetch = fetch or proxy_fetch(core)
    report = []
    pods: list[Any] = core.list_namespaced_pod(namespace, label_selector=selector).items
    for pod in sorted(pods, key=lambda p: str(p.metadata.name)):
        phase = (pod.status.phase if pod.status else None) or "Unknown"
        ready = _is_ready(pod) if pod.status else False
        if phase != "Running":
            report.append(PodChampion(pod.metadata.name, phase, ready, None, None, f"pod is {phase}"))
            continue
        try:
            version, kind = parse_model_info(fetch(pod))
        except Exception as exc:  # one unreachable pod must not hide the others
            reason = getattr(exc, "reason", None) or str(exc)
            report.append(PodChampion(pod.metadata.name, phase, ready, None, None, f"metrics unreachable: {reason}"))
            continue
        error = None if version else "no model loaded"
        report.append(PodChampion(pod.metadata.name, phase, ready, version, kind, error))
    return report


def consistent_version(report: list[PodChampion]) -> str | None:
    """The version every pod serves, or None when pods disagree or none answered."""
    versions = {p.version for p in report}
    return versions.pop() if len(versions) == 1 and None not in versions else None
