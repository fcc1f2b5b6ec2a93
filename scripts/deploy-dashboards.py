#!/usr/bin/env python3
"""Write the Grafana dashboards (helm/agnews/files/grafana/*.json) from this one description.

Dashboards are code: edit the panels here, run `python scripts/deploy-dashboards.py`, commit both.
tests/deploy/test_monitoring.py fails when the JSON files and this script disagree.
Metric names come from docs/CONTRACTS.md ("Metrics").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "helm" / "agnews" / "files" / "grafana"
NS = 'namespace=~"$namespace"'
RI = "$__rate_interval"
BATCH = f"rate(agnews_inference_batch_size_bucket{{{NS}}}[{RI}])"


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": expr,
        "legendFormat": legend,
        "refId": ref,
    }


def panel(
    title: str,
    exprs: list[tuple[str, str]],
    *,
    kind: str = "timeseries",
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    description: str = "",
    stack: bool = False,
) -> dict[str, Any]:
    """One panel; grid positions are filled in by dashboard()."""
    custom: dict[str, Any] = {}
    if kind == "timeseries":
        custom = {"drawStyle": "line", "fillOpacity": 20 if stack else 10, "lineWidth": 1}
        if stack:
            custom["stacking"] = {"mode": "normal", "group": "A"}
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit, "custom": custom}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}} if kind == "timeseries" else {},
        "targets": [_target(e, legend, chr(ord("A") + i)) for i, (e, legend) in enumerate(exprs)],
        "gridPos": {"w": w, "h": h, "x": 0, "y": 0},
    }


def row(title: str) -> dict[str, Any]:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": {"w": 24, "h": 1, "x": 0, "y": 0},
    }


def dashboard(uid: str, title: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    x = y = 0
    line_h = 0
    for pid, p in enumerate(panels, start=1):
        p["id"] = pid
        gp = p["gridPos"]
        if x + gp["w"] > 24 or p["type"] == "row":
            x, y = 0, y + line_h
            line_h = 0
        gp["x"], gp["y"] = x, y
        x += gp["w"]
        line_h = max(line_h, gp["h"])
        if p["type"] == "row":
            x, y, line_h = 0, y + gp["h"], 0
    return {
        "uid": uid,
        "title": title,
        "tags": ["agnews"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
                {
                    "name": "namespace",
                    "type": "query",
                    "label": "Namespace",
                    "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    "query": {"query": "label_values(agnews_http_requests_total, namespace)", "refId": "ns"},
                    "definition": "label_values(agnews_http_requests_total, namespace)",
                    "includeAll": True,
                    "multi": True,
                    "refresh": 2,
                },
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def services_dashboard() -> dict[str, Any]:
    sel = f'{NS}, route!~"/metrics|/healthz|/readyz"'
    return dashboard(
        "agnews-services",
        "agnews / services",
        [
            row("Traffic"),
            panel(
                "Request rate per service",
                [(f"sum by (service) (rate(agnews_http_requests_total{{{sel}}}[{RI}]))", "{{service}}")],
                unit="reqps",
            ),
            panel(
                "Error rate (5xx share) per service",
                [
                    (
                        f'sum by (service) (rate(agnews_http_requests_total{{{sel}, status=~"5.."}}[{RI}]))'
                        f" / sum by (service) (rate(agnews_http_requests_total{{{sel}}}[{RI}]))",
                        "{{service}}",
                    )
                ],
                unit="percentunit",
            ),
            panel(
                "Latency p50 / p99 per service",
                [
                    (
                        f"histogram_quantile(0.5, sum by (service, le) "
                        f"(rate(agnews_http_request_duration_seconds_bucket{{{sel}}}[{RI}])))",
                        "p50 {{service}}",
                    ),
                    (
                        f"histogram_quantile(0.99, sum by (service, le) "
                        f"(rate(agnews_http_request_duration_seconds_bucket{{{sel}}}[{RI}])))",
                        "p99 {{service}}",
                    ),
                ],
                unit="s",
            ),
            panel(
                "Requests by route and status",
                [
                    (
                        f"sum by (service, route, status) (rate(agnews_http_requests_total{{{sel}}}[{RI}]))",
                        "{{service}} {{route}} {{status}}",
                    )
                ],
                unit="reqps",
                stack=True,
            ),
            row("Model"),
            panel(
                "Model version served (pods per version)",
                [(f"count by (version, kind) (agnews_model_info{{{NS}}} == 1)", "{{version}} ({{kind}})")],
                kind="table",
                w=12,
                h=6,
            ),
            panel(
                "Inference pods ready",
                [(f"sum(agnews_inference_ready{{{NS}}})", "ready"), (f"count(agnews_inference_ready{{{NS}}})", "pods")],
                kind="stat",
                w=12,
                h=6,
            ),
            row("Storage"),
            panel(
                "Bytes held per storage area",
                [
                    (f"sum by (area) (agnews_storage_bytes{{{NS}}})", "{{area}}"),
                    (f"sum(agnews_inference_cache_bytes{{{NS}}})", "inference cache"),
                ],
                unit="bytes",
                description="From the reaper: uploads and results go with their job, checkpoints after success; "
                "models stay (the alert fires at 80% of the 20 GiB registry volume).",
            ),
            panel(
                "Jobs whose worker was lost",
                [(f"sum by (outcome) (increase(agnews_reaper_jobs_total{{{NS}}}[{RI}]))", "{{outcome}}")],
                description="Leases that expired: re-queued, or failed after max attempts.",
            ),
        ],
    )


def ml_dashboard() -> dict[str, Any]:
    return dashboard(
        "agnews-ml",
        "agnews / inference, jobs and training",
        [
            row("Inference"),
            panel(
                "Inference batch size (p50 / p95 / mean)",
                [
                    (
                        f"histogram_quantile(0.5, sum by (le) ({BATCH}))",
                        "p50",
                    ),
                    (
                        f"histogram_quantile(0.95, sum by (le) ({BATCH}))",
                        "p95",
                    ),
                    (
                        f"sum(rate(agnews_inference_batch_size_sum{{{NS}}}[{RI}]))"
                        f" / sum(rate(agnews_inference_batch_size_count{{{NS}}}[{RI}]))",
                        "mean",
                    ),
                ],
                w=8,
            ),
            panel(
                "Inference queue depth",
                [(f"sum by (pod) (agnews_inference_queue_depth{{{NS}}})", "{{pod}}")],
                w=8,
            ),
            panel(
                "Load shed: requests refused with 429, by reason",
                [(f"sum by (reason) (rate(agnews_inference_shed_total{{{NS}}}[{RI}]))", "{{reason}}")],
                unit="reqps",
                w=8,
                stack=True,
                description="Admission control: queue_full (INFERENCE_MAX_QUEUE texts waiting), over_capacity "
                "(queued work longer than INFERENCE_MAX_QUEUE_DELAY_MS). Answered quickly with Retry-After.",
            ),
            panel(
                "Dropped before computing, and requests failed by their own input",
                [
                    (f"sum by (reason) (rate(agnews_inference_dropped_total{{{NS}}}[{RI}]))", "dropped: {{reason}}"),
                    (f"sum(rate(agnews_inference_failed_requests_total{{{NS}}}[{RI}]))", "failed alone (422)"),
                ],
                unit="reqps",
                w=8,
                description="deadline: waited past INFERENCE_DEADLINE_MS (429); client_gone: the caller hung up. "
                "A batch that raises is retried request by request: only the culprit fails.",
            ),
            panel(
                "Queue wait p50 / p99",
                [
                    (
                        f"histogram_quantile(0.5, sum by (le) "
                        f"(rate(agnews_inference_queue_wait_seconds_bucket{{{NS}}}[{RI}])))",
                        "wait p50",
                    ),
                    (
                        f"histogram_quantile(0.99, sum by (le) "
                        f"(rate(agnews_inference_queue_wait_seconds_bucket{{{NS}}}[{RI}])))",
                        "wait p99",
                    ),
                ],
                unit="s",
                w=8,
            ),
            panel(
                "Tokens per forward pass (mean, budget INFERENCE_TOKEN_BUDGET)",
                [
                    (
                        f"sum(rate(agnews_inference_batch_tokens_sum{{{NS}}}[{RI}]))"
                        f" / sum(rate(agnews_inference_batch_tokens_count{{{NS}}}[{RI}]))",
                        "tokens per pass",
                    )
                ],
                w=8,
            ),
            panel(
                "Predictions per label",
                [(f"sum by (label) (rate(agnews_predictions_total{{{NS}}}[{RI}]))", "{{label}}")],
                unit="ops",
                w=8,
                stack=True,
            ),
            row("Jobs"),
            panel(
                "Jobs by type and state (per hour)",
                [
                    (
                        f"sum by (type, state) (increase(agnews_jobs_total{{{NS}}}[1h]))",
                        "{{type}} {{state}}",
                    )
                ],
                w=8,
                stack=True,
            ),
            panel(
                "Job duration p50 / p95 by type",
                [
                    (
                        f"histogram_quantile(0.5, sum by (type, le) "
                        f"(rate(agnews_job_duration_seconds_bucket{{{NS}}}[{RI}])))",
                        "p50 {{type}}",
                    ),
                    (
                        f"histogram_quantile(0.95, sum by (type, le) "
                        f"(rate(agnews_job_duration_seconds_bucket{{{NS}}}[{RI}])))",
                        "p95 {{type}}",
                    ),
                ],
                unit="s",
                w=8,
            ),
            panel(
                "Celery queue backlog",
                [(f"max by (queue) (agnews_queue_backlog{{{NS}}})", "{{queue}}")],
                w=8,
            ),
            row("Model in production (feedback and drift)"),
            panel(
                "Live accuracy by model version (feedback window)",
                [(f"max by (model_version) (agnews_live_accuracy{{{NS}}})", "{{model_version}}")],
                unit="percentunit",
                w=8,
                description="Share of correct predictions among readers' feedback (POST /v1/feedback).",
            ),
            panel(
                "Feedback per hour (correct / wrong)",
                [
                    (
                        f"sum by (model_version, correct) (increase(agnews_feedback_total{{{NS}}}[1h]))",
                        "{{model_version}} correct={{correct}}",
                    )
                ],
                w=8,
                stack=True,
            ),
            panel(
                "Drift from the champion's training data",
                [(f"max by (signal) (agnews_drift_score{{{NS}}})", "{{signal}}")],
                w=8,
                description="Jensen-Shannon divergence in bits; the alert fires above 0.2 for 15 minutes.",
            ),
            panel(
                "Label mix of live predictions (share)",
                [
                    (
                        f"sum by (label) (rate(agnews_predictions_total{{{NS}}}[1h]))"
                        f" / ignoring (label) group_left sum(rate(agnews_predictions_total{{{NS}}}[1h]))",
                        "{{label}}",
                    )
                ],
                unit="percentunit",
                w=12,
                stack=True,
            ),
            panel(
                "Shadow agreement with the champion",
                [
                    (
                        f'sum by (shadow) (rate(agnews_shadow_predictions_total{{{NS}, agree="true"}}[1h]))'
                        f" / sum by (shadow) (rate(agnews_shadow_predictions_total{{{NS}}}[1h]))",
                        "{{shadow}}",
                    ),
                    (f"sum(rate(agnews_shadow_dropped_total{{{NS}}}[{RI}]))", "skipped (busy)"),
                ],
                unit="percentunit",
                w=12,
                description="Share of shadow predictions equal to the champion's; its live accuracy is beside "
                "the champion's in the live accuracy panel.",
            ),
            panel(
                "Prediction log records (written / dropped)",
                [
                    (
                        f"sum by (outcome) (rate(agnews_prediction_log_records_total{{{NS}}}[{RI}]))",
                        "{{outcome}}",
                    )
                ],
                unit="ops",
                w=12,
            ),
            row("Last training run"),
            panel(
                "Last training accuracy / macro F1",
                [
                    (f"max by (preset) (agnews_last_training_accuracy{{{NS}}})", "accuracy {{preset}}"),
                    (f"max by (preset) (agnews_last_training_macro_f1{{{NS}}})", "macro F1 {{preset}}"),
                ],
                kind="stat",
                unit="percentunit",
                w=8,
                h=6,
            ),
            panel(
                "Last training duration",
                [(f"max by (preset) (agnews_last_training_duration_seconds{{{NS}}})", "{{preset}}")],
                kind="stat",
                unit="s",
                w=8,
                h=6,
            ),
            panel(
                "Last training finished",
                [(f"max by (preset) (agnews_last_training_timestamp_seconds{{{NS}}}) * 1000", "{{preset}}")],
                kind="stat",
                unit="dateTimeFromNow",
                w=8,
                h=6,
            ),
        ],
    )


DASHBOARDS = {"agnews-services.json": services_dashboard, "agnews-ml.json": ml_dashboard}


def render() -> dict[str, str]:
    return {name: json.dumps(build(), indent=2, sort_keys=True) + "\n" for name, build in DASHBOARDS.items()}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
