"""Prometheus rules and Grafana dashboards: valid PromQL (promtool), alert unit tests, and metric names that
the contract lists and the running services really export."""

from __future__ import annotations

import importlib.util
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from deploy_helpers import CHART, ROOT, run

RULES = CHART / "files" / "prometheus" / "agnews-rules.yaml"
DASHBOARDS = sorted((CHART / "files" / "grafana").glob("*.json"))
METRIC = re.compile(r"\bagnews_[a-z0-9_]+\b")
SERIES_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def dashboard_exprs() -> list[tuple[str, str]]:
    """(where, expr) of every query in every dashboard, Grafana variables substituted for PromQL checks."""
    out = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"].replace("$namespace", ".*").replace("$__rate_interval", "5m")
                out.append((f"{path.name}: {panel['title']}", expr))
    return out


def rule_exprs() -> list[tuple[str, str]]:
    doc = yaml.safe_load(RULES.read_text())
    return [(r.get("alert") or r.get("record"), r["expr"]) for g in doc["groups"] for r in g["rules"]]


def contract_series() -> dict[str, str]:
    """Series names from docs/CONTRACTS.md's metrics table -> type (histograms expand to _bucket/_sum/_count)."""
    text = (ROOT / "docs" / "CONTRACTS.md").read_text()
    series: dict[str, str] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("agnews_"):
            continue
        kind = cells[1].split()[0]
        for name in (n.strip() for n in cells[0].split(",")):
            base = name.removesuffix("_total")
            for suffix in SERIES_SUFFIXES.get(kind, ("",)):
                series[base + suffix] = kind
    return series


def exported_series(metrics_text: str) -> set[str]:
    """Series names a /metrics page can produce, from its # TYPE lines (present even before any sample)."""
    names: set[str] = set()
    for m in re.finditer(r"^# TYPE (\S+) (\S+)$", metrics_text, re.M):
        name, kind = m.groups()
        base = name.removesuffix("_total")
        names.update(base + s for s in SERIES_SUFFIXES.get(kind, ("",)))
    names.update(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", metrics_text, re.M))
    return names


def used_series() -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for where, expr in rule_exprs() + dashboard_exprs():
        for name in METRIC.findall(expr):
            used.setdefault(name, set()).add(where)
    return used


def test_rules_check_and_unit_tests(tools: dict[str, str]) -> None:
    out = run([tools["promtool"], "check", "rules", str(RULES)])
    assert f"SUCCESS: {len(rule_exprs())} rules found" in out.stdout
    out = run([tools["promtool"], "test", "rules", str(ROOT / "monitoring" / "agnews-rules.test.yaml")])
    assert "SUCCESS" in out.stdout


def test_required_alerts_exist() -> None:
    alerts = {name for name, _ in rule_exprs()}
    assert {
        "AgnewsHighErrorRate",
        "AgnewsHighLatencyP99",
        "AgnewsQueueBacklog",
        "AgnewsTrainingFailed",
        "AgnewsInferenceNotReady",
        "AgnewsInferenceShedding",
        "AgnewsDataDrift",
        "AgnewsLiveAccuracyLow",
    } <= alerts


def test_every_dashboard_expr_is_valid_promql(tools: dict[str, str], tmp_path: Path) -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 15
    rules = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [{"record": f"agnews:dashboard_check_{i}", "expr": expr} for i, (_, expr) in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "dashboards.rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    out = run([tools["promtool"], "check", "rules", str(path)], check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in out.stdout
    # and promtool really rejects broken PromQL
    path.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "x",
                        "rules": [
                            {
                                "record": "agnews:broken",
                                "expr": "sum by (service (rate(agnews_http_requests_total[5m]))",
                            }
                        ],
                    }
                ]
            }
        )
    )
    assert run([tools["promtool"], "check", "rules", str(path)], check=False).returncode != 0


def test_dashboards_are_generated_and_cover_the_topics() -> None:
    spec = importlib.util.spec_from_file_location("deploy_dashboards", ROOT / "scripts" / "deploy-dashboards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rendered = module.render()
    assert sorted(rendered) == [p.name for p in DASHBOARDS]
    for path in DASHBOARDS:
        assert path.read_text() == rendered[path.name], f"{path.name} is stale: run `make dashboards`"
        doc = json.loads(path.read_text())
        ids = [p["id"] for p in doc["panels"]]
        assert len(ids) == len(set(ids))
        assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in doc["panels"])
        assert {v["name"] for v in doc["templating"]["list"]} == {"datasource", "namespace"}
    used = used_series()
    for topic, series in {
        "request rate/errors": "agnews_http_requests_total",
        "latency": "agnews_http_request_duration_seconds_bucket",
        "batch size": "agnews_inference_batch_size_bucket",
        "queue depth": "agnews_inference_queue_depth",
        "shed requests": "agnews_inference_shed_total",
        "deadline drops": "agnews_inference_dropped_total",
        "predictions per label": "agnews_predictions_total",
        "jobs by state": "agnews_jobs_total",
        "job duration": "agnews_job_duration_seconds_bucket",
        "last training": "agnews_last_training_accuracy",
        "model version": "agnews_model_info",
        "backlog": "agnews_queue_backlog",
    }.items():
        assert any(".json: " in w for w in used.get(series, ())), f"no dashboard panel shows {topic}"


def test_metric_names_are_in_the_contract() -> None:
    contract = contract_series()
    assert "agnews_http_request_duration_seconds_bucket" in contract and "agnews_jobs_total" in contract
    unknown = {name: sorted(where) for name, where in used_series().items() if name not in contract}
    assert not unknown, f"not in docs/CONTRACTS.md: {unknown}"


def _wait_job(http: httpx.Client, base: str, job_id: str, timeout_s: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = http.get(f"{base}/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout_s}s")


@pytest.fixture(scope="module")
def live_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """/metrics of the real gateway, inference and both Celery workers (tests/stack.py) after real traffic:
    a classify call, a batch job and a training job (some metrics only exist once a job has run)."""
    from stack import Stack  # tests/stack.py, the shared whole-stack launcher

    with (
        Stack.start(tmp_path_factory.mktemp("metrics-stack"), champion="tfidf") as stack,
        # the admin sees every job (anonymous callers cannot read an admin's training job)
        httpx.Client(timeout=30, headers=stack.admin_headers) as http,
    ):
        base = stack.gateway_url
        r = http.post(f"{base}/v1/classify", json={"texts": ["Stocks rally as the central bank cuts rates"]})
        assert r.status_code == 200, r.text
        csv = "title,description\nMarkets,Stocks rally\nFootball,The team wins the cup\n"
        batch = http.post(f"{base}/v1/batch-jobs", files={"file": ("a.csv", csv, "text/csv")})
        assert batch.status_code == 202, batch.text
        training = http.post(f"{base}/v1/training-jobs", json={"preset": "tfidf", "max_train_samples": 300})
        assert training.status_code == 202, training.text
        assert _wait_job(http, base, batch.json()["id"])["state"] == "succeeded"
        assert _wait_job(http, base, training.json()["id"])["state"] == "succeeded"
        yield {
            "gateway": http.get(f"{base}/metrics").text,
            "inference": http.get(f"{stack.inference_url}/metrics").text,
            "batch-worker": http.get(f"http://127.0.0.1:{stack.batch_metrics_port}/metrics").text,
            "training-worker": http.get(f"http://127.0.0.1:{stack.training_metrics_port}/metrics").text,
            "reaper": http.get(f"http://127.0.0.1:{stack.reaper_metrics_port}/metrics").text,
        }


@pytest.mark.live
def test_dashboards_and_rules_use_only_exported_metrics(live_metrics: dict[str, str]) -> None:
    exported: set[str] = set()
    for page in live_metrics.values():
        exported |= exported_series(page)
    assert 'service="gateway"' in live_metrics["gateway"] and 'service="inference"' in live_metrics["inference"]
    missing = {name: sorted(where) for name, where in used_series().items() if name not in exported}
    assert not missing, f"queried but exported by no running service: {missing}"


@pytest.mark.live
def test_services_export_the_contract_metrics(live_metrics: dict[str, str]) -> None:
    """Each metric of the contract is exported by the service the contract names."""
    owners = {
        "gateway": ["gateway"],
        "inference": ["inference"],
        "workers": ["batch-worker", "training-worker"],
        "training worker": ["training-worker"],
        "reaper": ["reaper"],
    }
    text = (ROOT / "docs" / "CONTRACTS.md").read_text()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("agnews_"):
            continue
        who = [w.strip() for w in re.sub(r"\(.*?\)", "", cells[3]).split(",")]
        for name in (n.strip() for n in cells[0].split(",")):
            series = name if cells[1].startswith(("counter", "gauge")) else name + "_count"
            for process in (p for owner in who for p in owners[owner]):
                assert series in exported_series(live_metrics[process]), f"{process} does not export {series}"
