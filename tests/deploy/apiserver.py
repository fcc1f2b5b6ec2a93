"""etcd + a real kube-apiserver on loopback for the agnews-deploy tests (no kubelet, no controllers).

The binary comes from scripts/deploy-build-apiserver.sh (built from Debian's kubernetes source once and
cached in /var/cache/agnews-k8s, or $AGNEWS_K8S_CACHE).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import httpx
from stack import free_port

ROOT = Path(__file__).resolve().parents[2]


def build_apiserver() -> Path:
    """Path of the cached kube-apiserver binary; builds it (about 11 minutes) when missing."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "deploy-build-apiserver.sh")], check=True, capture_output=True, text=True
    )
    path = Path(out.stdout.strip().splitlines()[-1])
    assert path.exists(), out.stderr[-2000:]
    return path


class ApiServer:
    """Start/stop etcd + kube-apiserver; `kubeconfig` is a file the kubernetes client can load."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.kubeconfig = workdir / "kubeconfig"
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        binary = build_apiserver()
        d = self.dir
        (d / "certs").mkdir()
        subprocess.run(["openssl", "genrsa", "-out", str(d / "sa.key"), "2048"], check=True, capture_output=True)
        subprocess.run(
            ["openssl", "rsa", "-in", str(d / "sa.key"), "-pubout", "-out", str(d / "sa.pub")],
            check=True,
            capture_output=True,
        )
        (d / "tokens.csv").write_text(f"{self.token},admin,1,system:masters\n")
        client, peer = free_port(), free_port()
        etcd_log = open(d / "etcd.log", "wb")  # noqa: SIM115 - closed with the process
        self._procs.append(
            subprocess.Popen(
                [
                    "etcd",
                    "--name",
                    "agnews-test",
                    "--data-dir",
                    str(d / "etcd"),
                    "--listen-client-urls",
                    f"http://127.0.0.1:{client}",
                    "--advertise-client-urls",
                    f"http://127.0.0.1:{client}",
                    "--listen-peer-urls",
                    f"http://127.0.0.1:{peer}",
                    "--initial-advertise-peer-urls",
                    f"http://127.0.0.1:{peer}",
                    "--initial-cluster",
                    f"agnews-test=http://127.0.0.1:{peer}",
                ],
                stdout=etcd_log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "ETCD_UNSUPPORTED_ARCH": ""},
            )
        )
        api_log = open(d / "apiserver.log", "wb")  # noqa: SIM115
        self._procs.append(
            subprocess.Popen(
                [
                    str(binary),
                    f"--etcd-servers=http://127.0.0.1:{client}",
                    "--bind-address=127.0.0.1",
                    "--advertise-address=127.0.0.1",
                    f"--secure-port={self.port}",
                    f"--cert-dir={d / 'certs'}",
                    f"--token-auth-file={d / 'tokens.csv'}",
                    "--authorization-mode=RBAC",
                    "--service-account-issuer=https://kubernetes.default.svc",
                    f"--service-account-key-file={d / 'sa.pub'}",
                    f"--service-account-signing-key-file={d / 'sa.key'}",
                    "--service-cluster-ip-range=10.0.0.0/24",
                    "--disable-admission-plugins=ServiceAccount",
                    "--enable-priority-and-fairness=false",
                    "--logtostderr=true",
                    "--v=0",
                ],
                stdout=api_log,
                stderr=subprocess.STDOUT,
            )
        )
        self._wait_ready()
        # the API server's self-signed serving certificate (with its CA) for 127.0.0.1
        ca = d / "certs" / "apiserver.crt"
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
            f"clusters: [{{name: test, cluster: {{server: '{self.url}', certificate-authority: '{ca}'}}}}]\n"
            f"users: [{{name: admin, user: {{token: '{self.token}'}}}}]\n"
            "contexts: [{name: test, context: {cluster: test, user: admin, namespace: default}}]\n"
        )

    def _wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            for p in self._procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.args[0]} exited {p.returncode}: see {self.dir}/*.log")
            try:
                r = httpx.get(
                    f"{self.url}/readyz", headers={"Authorization": f"Bearer {self.token}"}, verify=False, timeout=2
                )
                if r.status_code == 200:
                    return
                last = r.text
            except httpx.HTTPError as exc:
                last = str(exc)
            time.sleep(0.3)
        raise RuntimeError(f"kube-apiserver not ready in {timeout_s}s: {last}")

    def stop(self) -> None:
        for p in reversed(self._procs):
            p.terminate()
        for p in reversed(self._procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
