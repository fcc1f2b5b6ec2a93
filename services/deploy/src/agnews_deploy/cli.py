"""agnews-deploy: restart + watch inference, launch + follow a training Job, report the champion per pod.

Exit codes: 0 done, 1 failed (rollout deadline exceeded, Job failed, pods disagree), 2 timed out.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from kubernetes.client.exceptions import ApiException

from agnews_deploy import champion, jobs, rollout
from agnews_deploy.kube import Clients, component_name, component_selector, load_clients
from agnews_deploy.watching import WatchTimeout

log = logging.getLogger("agnews_deploy")


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="agnews-deploy", description=__doc__.splitlines()[0])
    p.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then KUBECONFIG / ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context")
    p.add_argument("-n", "--namespace", default="agnews", help="namespace of the release (default: agnews)")
    p.add_argument("--release", default="agnews", help="Helm release name (default: agnews)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("restart", help="rolling restart of the inference Deployment, then watch it")
    r.add_argument("--deployment", help="Deployment name (default: <release fullname>-inference)")
    r.add_argument("--timeout", type=float, default=600, help="seconds to wait for the rollout (default: 600)")
    r.add_argument("--no-wait", action="store_true", help="only patch; do not watch")

    s = sub.add_parser("status", help="watch the inference rollout until it completes (kubectl rollout status)")
    s.add_argument("--deployment", help="Deployment name (default: <release fullname>-inference)")
    s.add_argument("--timeout", type=float, default=600, help="seconds to wait (default: 600)")

    t = sub.add_parser("train", help="launch a training run as a Job on the GPU pool and follow it")
    t.add_argument("--preset", default="minilm", help="trainer preset (default: minilm)")
    t.add_argument("--gpus", type=int, default=1, help="nvidia.com/gpu per Job; 0 = CPU (default: 1)")
    t.add_argument("--data", help="training data (default: TRAINER_DATA of the release)")
    t.add_argument("--image", help="trainer image (default: the trainer Deployment's)")
    t.add_argument(
        "--trainer-deployment", help="Deployment whose pod template the Job copies (default: <fullname>-trainer)"
    )
    t.add_argument("--deadline", type=int, default=6 * 3600, help="activeDeadlineSeconds of the Job (default: 21600)")
    t.add_argument("--timeout", type=float, default=6 * 3600, help="seconds to follow the Job (default: 21600)")
    t.add_argument("--no-follow", action="store_true", help="create the Job and return")
    t.add_argument("extra", nargs="*", help="extra `agnews-train run` arguments (after --)")

    c = sub.add_parser("champion", help="the model version each inference pod serves")
    c.add_argument("--json", action="store_true", help="print JSON")
    return p


def cmd_restart(k: Clients, a: argparse.Namespace) -> int:
    name = a.deployment or component_name(a.release, "inference")
    stamp = rollout.restart(k.apps, a.namespace, name)
    _say(f"deployment.apps/{name} restarted (restartedAt={stamp})")
    if a.no_wait:
        return 0
    return _wait(k, a, name)


def cmd_status(k: Clients, a: argparse.Namespace) -> int:
    return _wait(k, a, a.deployment or component_name(a.release, "inference"))


def _wait(k: Clients, a: argparse.Namespace, name: str) -> int:
    try:
        rollout.wait_for_rollout(k.apps, a.namespace, name, a.timeout, on_progress=_say)
    except rollout.RolloutFailed as exc:
        _say(f"error: {exc}")
        return 1
    except WatchTimeout:
        _say(f"error: timed out after {a.timeout:g}s waiting for deployment/{name} to roll out")
        return 2
    return 0


def cmd_train(k: Clients, a: argparse.Namespace) -> int:
    req = jobs.TrainingRequest(
        release=a.release,
        preset=a.preset,
        gpus=a.gpus,
        data=a.data,
        extra_args=a.extra,
        image=a.image,
        active_deadline_s=a.deadline,
    )
    source = a.trainer_deployment or component_name(a.release, "trainer")
    template = jobs.trainer_template(k.apps, a.namespace, source)
    name = jobs.launch(k.batch, a.namespace, jobs.build_training_job(template, req, jobs.job_name(a.release, a.preset)))
    _say(f"job.batch/{name} created (preset={a.preset}, gpus={a.gpus})")
    if a.no_follow:
        return 0
    try:
        _say(jobs.follow(k.batch, a.namespace, name, a.timeout, on_progress=_say))
    except jobs.JobFailed as exc:
        _say(f"error: {exc}")
        return 1
    except WatchTimeout:
        _say(f"error: job/{name} still running after {a.timeout:g}s (it keeps running; follow it with kubectl)")
        return 2
    return 0


def cmd_champion(k: Clients, a: argparse.Namespace) -> int:
    report = champion.champions(k.core, a.namespace, component_selector(a.release, "inference"))
    agreed = champion.consistent_version(report)
    if a.json:
        _say(json.dumps({"champion": agreed, "pods": [p.as_dict() for p in report]}, indent=2))
    else:
        for p in report:
            served = f"{p.version} ({p.kind})" if p.version else f"- ({p.error})"
            _say(f"{p.pod:<48} {p.phase:<9} ready={str(p.ready).lower():<5} {served}")
        _say(f"champion: {agreed or 'pods disagree or none answered'}")
    return 0 if agreed else 1


COMMANDS = {"restart": cmd_restart, "status": cmd_status, "train": cmd_train, "champion": cmd_champion}


def main(argv: Sequence[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if a.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    k = load_clients(a.kubeconfig, a.context)
    try:
        return COMMANDS[a.command](k, a)
    except ApiException as exc:
        _say(
            f"error: Kubernetes API {exc.status} {exc.reason}: {exc.body if isinstance(exc.body, str) else ''}".rstrip()
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
