"""The chart refuses inconsistent values with a message that says what to set."""

from __future__ import annotations

from collections.abc import Callable

import pytest

REFUSALS = [
    ({"redis.enabled": "false"}, "set redis.external.url or redis.external.existingSecret"),
    ({"redis.external.url": "redis://x:6379/0"}, "set redis.enabled=false"),
    ({"modelRegistry.type": "s3"}, "set modelRegistry.s3.bucket"),
    (
        {"modelRegistry.type": "s3", "modelRegistry.s3.bucket": "my-bucket", "modelRegistry.s3.credentials": "keys"},
        "set modelRegistry.s3.existingSecret, or both accessKeyId and secretAccessKey",
    ),
    (
        {"modelRegistry.type": "s3", "modelRegistry.s3.bucket": "my-bucket", "modelRegistry.s3.credentials": "irsa"},
        'serviceAccount.annotations."eks.amazonaws.com/role-arn"',
    ),
    (
        {
            "modelRegistry.type": "s3",
            "modelRegistry.s3.bucket": "my-bucket",
            "modelRegistry.s3.credentials": "instance",
            "modelRegistry.s3.accessKeyId": "AKIA",
        },
        "credentials is not keys",
    ),
    ({"trainer.tolerations": "null"}, 'add a toleration for the GPU taint "nvidia.com/gpu"'),
    ({"trainer.gpu.count": "0"}, "trainer.gpu.count >= 1"),
    ({"trainer.enabled": "false"}, "trainer.schedule.enabled needs trainer.enabled"),
    ({"inference.autoscaling.minReplicas": "8"}, "minReplicas must not exceed maxReplicas"),
    ({"gateway.ingress.tlsSecretName": "tls"}, "tlsSecretName needs gateway.ingress.host"),
    ({"monitoring.enabled": "false", "monitoring.forceCRDs": "true"}, "forceCRDs needs monitoring.enabled"),
    # values.schema.json
    ({"trainer.concurrency": "2"}, "/trainer/concurrency"),
    ({"modelRegistry.type": "nfs"}, "/modelRegistry/type"),
    ({"redis.auth.password": "a/b@c"}, "/redis/auth/password"),
    ({"gateway.replicaz": "2"}, "replicaz"),
    ({"trainer.schedule.cron": "every sunday"}, "/trainer/schedule/cron"),
    ({"auth.adminKeys[0]": "short"}, "/auth/adminKeys/0"),
    (
        {
            "modelRegistry.type": "s3",
            "modelRegistry.s3.bucket": "my-bucket",
            "modelRegistry.s3.credentials": "instance",
        },
        "egress is closed: set networkPolicy.egress.externalCidrs",
    ),
]


@pytest.mark.parametrize(("values", "message"), REFUSALS, ids=[",".join(v) for v, _ in REFUSALS])
def test_refused(render_error: Callable[..., str], values: dict[str, str], message: str) -> None:
    err = render_error(set_values=values)
    assert message in err, err


def test_the_fixed_combinations_render(render_error: Callable[..., str], render: Callable[..., list]) -> None:
    """Each refusal's fix renders: the check is not just refusing everything."""
    render(set_values={"redis.enabled": "false", "redis.external.existingSecret": "r"})
    render(
        set_values={
            "modelRegistry.type": "s3",
            "modelRegistry.s3.bucket": "my-bucket",
            "modelRegistry.s3.credentials": "keys",
            "modelRegistry.s3.existingSecret": "aws",
            "networkPolicy.egress.externalCidrs[0]": "0.0.0.0/0",
        }
    )
    render(
        set_values={
            "modelRegistry.type": "s3",
            "modelRegistry.s3.bucket": "my-bucket",
            "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn": "arn:aws:iam::1:role/r",
            "networkPolicy.egress.externalCidrs[0]": "0.0.0.0/0",
        }
    )
    render(set_values={"trainer.tolerations": "null", "trainer.gpu.requireToleration": "false"})
    render(set_values={"trainer.enabled": "false", "trainer.schedule.enabled": "false"})
    render("values-eks.yaml", set_values={"trainer.gpu.enabled": "false", "trainer.tolerations": "null"})
