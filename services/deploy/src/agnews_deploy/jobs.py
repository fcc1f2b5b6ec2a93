"""A training run as a Kubernetes Job on the GPU pool, built from the trainer Deployment's pod template."""

from __future__ import annotations

import copy
import logging
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from agnews_deploy.watching import watch_object

log = logging.getLogger(__name__)

GPU_RESOURCE = "nvidia.com/gpu"


class JobFailed(RuntimeError):
    """The Job reached its Failed condition."""


@dataclass
class TrainingRequest:
    """What to train and where; the pod template comes from the release's trainer Deployment."""

    release: str
    preset: str
    gpus: int = 1
    data: str | None = None  # None: TRAINER_DATA from the release ConfigMap
    extra_args: list[str] = field(default_factory=list)
    image: str | None = None  # None: the trainer Deployment's image
    active_deadline_s: int = 6 * 3600
    backoff_limit: int = 0
    ttl_after_finished_s: int = 7 * 24 * 3600


def job_name(release: str, preset: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    safe = "".join(ch if ch.isalnum() else "-" for ch in preset.lower()).strip("-")[:20] or "run"
    return f"{release}-train-{safe}-{stamp}"[:63].rstrip("-")


def _train_command(req: TrainingRequest) -> list[str]:
    data = shlex.quote(req.data) if req.data else '"${TRAINER_DATA}"'
    extra = " ".join(shlex.quote(a) for a in req.extra_args)
    line = (
        f'exec agnews-train run --data {data} --preset {shlex.quote(req.preset)} --registry "${{TRAINER_REGISTRY_URI}}"'
    )
    return ["sh", "-c", f"{line} {extra}".rstrip()]


def build_training_job(template: client.V1PodTemplateSpec, req: TrainingRequest, name: str) -> client.V1Job:
    """Job manifest: the worker's pod (image, env, volumes, node pool) running one `agnews-train run`."""
    pod = copy.deepcopy(template)
    spec: Any = pod.spec
    container: Any = spec.containers[0]
    container.name = "train"
    container.command = None
    container.args = _train_command(req)
    container.ports = None
    container.liveness_probe = container.readiness_probe = container.startup_probe = None
    if req.image:
        container.image = req.image
    resources = container.resources or client.V1ResourceRequirements()
    limits = dict(resources.limits or {})
    requests = dict(resources.requests or {})
    if req.gpus > 0:
        # extended resources: the request must equal the limit
        limits[GPU_RESOURCE] = str(req.gpus)
        requests[GPU_RESOURCE] = str(req.gpus)
    else:
        limits.pop(GPU_RESOURCE, None)
        requests.pop(GPU_RESOURCE, None)
    container.resources = client.V1ResourceRequirements(limits=limits or None, requests=requests or None)
    spec.containers = [container]
    spec.restart_policy = "Never"
    labels = dict((pod.metadata.labels if pod.metadata else None) or {})
    labels.update({"app.kubernetes.io/component": "training-job", "agnews.io/preset": job_label(req.preset)})
    labels.pop("pod-template-hash", None)
    pod.metadata = client.V1ObjectMeta(labels=labels, annotations=(pod.metadata.annotations if pod.metadata else None))
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=client.V1ObjectMeta(
            name=name,
            labels=labels,
            annotations={"agnews.io/preset": req.preset, "agnews.io/launched-by": "agnews-deploy"},
        ),
        spec=client.V1JobSpec(
            template=pod,
            backoff_limit=req.backoff_limit,
            active_deadline_seconds=req.active_deadline_s,
            ttl_seconds_after_finished=req.ttl_after_finished_s,
        ),
    )


def job_label(value: str) -> str:
    """A label-safe copy of a preset (a preset may be a model path)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in value)[:63].strip("-_.")
    return safe or "custom"


def trainer_template(apps: client.AppsV1Api, namespace: str, deployment: str) -> client.V1PodTemplateSpec:
    """The release's trainer worker pod template (carries image, env, secrets, GPU node pool)."""
    return apps.read_namespaced_deployment(deployment, namespace).spec.template


def launch(batch: client.BatchV1Api, namespace: str, job: client.V1Job) -> str:
    """Create the Job; returns its name."""
    created: Any = batch.create_namespaced_job(namespace, job)
    name = str(created.metadata.name)
    log.info("job/%s created", name)
    return name


@dataclass(frozen=True)
class JobOutcome:
    succeeded: bool
    message: str


def job_outcome(job: Any) -> JobOutcome | None:
    """Final state from the Job's conditions; None while it runs."""
    status = job.status
    for cond in (status.conditions or []) if status else []:
        if cond.status != "True":
            continue
        if cond.type == "Complete":
            return JobOutcome(True, f"job/{job.metadata.name} succeeded")
        if cond.type == "Failed":
            why = ": ".join(x for x in (cond.reason, cond.message) if x)
            return JobOutcome(False, f"job/{job.metadata.name} failed ({why or 'no reason given'})")
    return None


def follow(
    batch: client.BatchV1Api,
    namespace: str,
    name: str,
    timeout_s: float,
    on_progress: Callable[[str], None] | None = None,
) -> str:
    """Block until the Job completes; JobFailed when it fails, WatchTimeout past the deadline."""
    seen: list[tuple[int, int, int]] = []

    def decide(job: Any) -> JobOutcome | None:
        st = job.status
        counts = ((st.active or 0), (st.succeeded or 0), (st.failed or 0)) if st else (0, 0, 0)
        if on_progress and (not seen or seen[-1] != counts):
            on_progress(f"job/{name}: active={counts[0]} succeeded={counts[1]} failed={counts[2]}")
        seen.append(counts)
        return job_outcome(job)

    outcome = watch_object(batch.list_namespaced_job, namespace, name, decide, timeout_s)
    if not outcome.succeeded:
        raise JobFailed(outcome.message)
    return outcome.message
