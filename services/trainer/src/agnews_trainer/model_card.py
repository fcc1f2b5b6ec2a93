"""The model card: what a version is, what it was trained on, and how well it does as served."""

from __future__ import annotations

import json
from typing import Any


def _figure(name: str, metrics: dict[str, Any]) -> str:
    figure = metrics.get(name) or {}
    if "accuracy" not in figure:
        return f"{name}: not measured"
    return f"{name} (`{figure.get('backend')}`) accuracy {figure['accuracy']:.4f}, macro-F1 {figure['macro_f1']:.4f}"


def _agreement(metrics: dict[str, Any]) -> str:
    agreement = metrics.get("fp32_agreement")
    return f"; served and fp32 agree on {agreement:.2%} of rows" if isinstance(agreement, float) else ""


def render_model_card(metrics: dict[str, Any], context: dict[str, Any]) -> str:
    """Markdown model card: what the model is, what it was trained on, how well it does."""
    lines = [
        f"# agnews model {context.get('version') or '(unpublished)'}",
        "",
        f"- kind: `{context.get('kind')}`, preset: `{context.get('preset')}`",
        f"- base model: `{context.get('base_model')}`",
        f"- git commit: `{context.get('git_commit') or 'unknown'}`",
        f"- data source: `{context.get('data_source')}`",
        f"- data hash: `{context.get('content_hash')}` (test split `{context.get('test_data_hash')}`)",
        "",
        "## Metrics (test split, scored as served)",
        "",
        f"accuracy **{metrics['accuracy']:.4f}**, macro-F1 **{metrics['macro_f1']:.4f}** on {metrics['n']} articles,",
        f"{_figure('served', metrics)}; {_figure('fp32', metrics)}{_agreement(metrics)}.",
        "Promotion compares the served figures.",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for name, row in metrics["per_class"].items():
        lines.append(f"| {name} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {row['support']} |")
    lines += ["", "Confusion matrix (rows true, columns predicted): see `confusion_matrix.png`.", ""]
    if latency := metrics.get("latency"):
        lines += ["## Latency", "", "```json", json.dumps(latency, indent=2), "```", ""]
    lines += [
        "## Training",
        "",
        "```json",
        json.dumps({"config": context.get("config"), "stats": context.get("train_stats")}, indent=2, default=str),
        "```",
        "",
        "## Intended use",
        "",
        "Topic classification of English news articles into World, Sports, Business and Sci/Tech. Model input",
        "is `agnews_core.text.model_input(title, description)`; other text distributions are untested.",
        "",
    ]
    return "\n".join(lines)
