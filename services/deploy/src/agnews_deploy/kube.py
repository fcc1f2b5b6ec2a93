"""Kubernetes API clients and the object names the Helm chart gives a release."""

from __future__ import annotations

from dataclasses import dataclass

from kubernetes import client, config


@dataclass(frozen=True)
class Clients:
    """The three API groups agnews-deploy uses, sharing one connection pool."""

    core: client.CoreV1Api
    apps: client.AppsV1Api
    batch: client.BatchV1Api


def load_clients(kubeconfig: str | None = None, context: str | None = None) -> Clients:
    """In-cluster config when running in a pod, else the kubeconfig (KUBECONFIG, ~/.kube/config or the path)."""
    if kubeconfig is None and context is None:
        try:
            config.load_incluster_config()
            api = client.ApiClient()
            return Clients(client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api))
        except config.ConfigException:
            pass
    api = config.new_client_from_config(config_file=kubeconfig, context=context)
    return Clients(client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api))


def fullname(release: str, chart: str = "agnews") -> str:
    """Same rule as the chart's agnews.fullname helper."""
    name = release if chart in release else f"{release}-{chart}"
    return name[:63].rstrip("-")


def component_name(release: str, component: str) -> str:
    return f"{fullname(release)}-{component}"[:63].rstrip("-")


def component_selector(release: str, component: str) -> str:
    """Label selector of one component's pods (the chart's agnews.selectorLabels)."""
    return f"app.kubernetes.io/instance={release},app.kubernetes.io/component={component}"
