"""`agnews-train`: run the pipeline, evaluate a registered model, list/show/promote/roll back versions.

Progress goes to stderr through logging; the last line on stdout is one JSON object, so scripts can parse
it. User errors (AgnewsError) exit non-zero with one line and no traceback, mapped in `EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agnews_core.errors import (
    AgnewsError,
    ConfigError,
    ConflictError,
    DataValidationError,
    InvalidInputError,
    NotFoundError,
    PromotionRefusedError,
    StorageError,
)
from agnews_core.registry import ModelRegistry
from agnews_core.training_knobs import flag_name, flag_spec
from pydantic import ValidationError

from agnews_trainer.config import RunConfig, TrainerSettings, build_run_config, load_yaml_config

log = logging.getLogger("agnews_trainer")

# One table from domain error to exit status; the first matching class (most specific first) wins.
EXIT_CODES: tuple[tuple[type[AgnewsError], int], ...] = (
    (DataValidationError, 3),
    (InvalidInputError, 2),
    (ConfigError, 2),
    (NotFoundError, 4),
    (StorageError, 5),
    (PromotionRefusedError, 6),
    (ConflictError, 6),
    (AgnewsError, 1),
)


def exit_code(err: AgnewsError) -> int:
    return next(code for cls, code in EXIT_CODES if isinstance(err, cls))


def _registry_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", help="registry folder or s3://bucket/prefix (default: $TRAINER_REGISTRY_URI)")
    parser.add_argument("--s3-endpoint-url", help="S3 API endpoint (MinIO, moto); default: $TRAINER_S3_ENDPOINT_URL")
    parser.add_argument("--s3-region", help="default: $TRAINER_S3_REGION")


# Set through _registry_args (shared with the other subcommands) or only in a config file.
_NOT_FLAGS = frozenset({"registry_uri", "s3_endpoint_url", "s3_region", "validation", "extra"})


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per scalar RunConfig field (training knobs included), typed and helped from its declaration."""
    for name, info in RunConfig.model_fields.items():
        spec = None if name in _NOT_FLAGS else flag_spec(info)
        if spec is not None:
            parser.add_argument(flag_name(name, info), dest=name, **spec)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agnews-train", description="Train, evaluate and manage agnews models.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="all six stages: ingest, validate, transform, train, evaluate, publish")
    run.add_argument("--config", type=Path, help="YAML file of RunConfig fields (flags override it)")
    _registry_args(run)
    add_run_flags(run)

    ev = sub.add_parser("evaluate", help="evaluate a registered model on an AG News CSV or folder")
    _registry_args(ev)
    ev.add_argument("--model", default="champion", help="version id, 'champion' (default) or 'latest'")
    ev.add_argument("--data", required=True, help="CSV file (header or not), Kaggle folder (its test.csv) or zip")
    ev.add_argument("--work-dir", type=Path, help="model cache goes under it (default: $TRAINER_WORK_DIR)")

    models = sub.add_parser("models", help="list, show, promote or roll back registered versions")
    msub = models.add_subparsers(dest="models_command", required=True)
    _registry_args(msub.add_parser("list", help="every version, oldest first, and the champion"))
    show = msub.add_parser("show", help="one version's manifest")
    show.add_argument("version", nargs="?", default="champion", help="version id, 'champion' or 'latest'")
    _registry_args(show)
    promote = msub.add_parser("promote", help="make a version the champion (no comparison)")
    promote.add_argument("version")
    _registry_args(promote)
    _registry_args(msub.add_parser("rollback", help="move the champion back to the previous one"))
    return parser


def _settings(args: argparse.Namespace) -> TrainerSettings:
    overrides = {
        "registry_uri": args.registry,
        "s3_endpoint_url": args.s3_endpoint_url,
        "s3_region": args.s3_region,
    }
    try:
        return TrainerSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"TRAINER_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid trainer settings: {problems}") from None


def _registry(args: argparse.Namespace) -> ModelRegistry:
    return _settings(args).open_registry()


def cmd_run(args: argparse.Namespace) -> dict[str, Any]:
    from agnews_trainer.pipeline import run_pipeline

    settings = _settings(args)
    base = settings.run_config().model_dump(exclude_unset=False)
    layers: list[dict[str, Any]] = [base]
    if args.config is not None:
        layers.append(load_yaml_config(args.config))
    flags = {name: getattr(args, name) for name in RunConfig.model_fields if getattr(args, name, None) is not None}
    # Registry flags beat the YAML file too (they default to the environment only when absent).
    registry_flags = {
        "registry_uri": args.registry,
        "s3_endpoint_url": args.s3_endpoint_url,
        "s3_region": args.s3_region,
    }
    flags.update({k: v for k, v in registry_flags.items() if v is not None})
    layers.append(flags)
    cfg = build_run_config(*layers)
    return run_pipeline(cfg).model_dump(mode="json")


def cmd_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from agnews_trainer.pipeline import evaluate_registered

    settings = _settings(args)
    result = evaluate_registered(
        settings.open_registry(),
        args.model,
        args.data,
        (args.work_dir or settings.work_dir) / "cache",
        s3_endpoint_url=settings.s3_endpoint_url,
        s3_region=settings.s3_region,
    )
    return result


def _model_info(registry: ModelRegistry) -> dict[str, Any]:
    alias = registry.champion()
    champion = alias.version if alias else None
    models = [
        {
            "version": m.version,
            "kind": m.kind,
            "preset": m.preset,
            "created_at": m.created_at.isoformat(),
            "is_champion": m.version == champion,
            "accuracy": m.metrics.get("accuracy"),
            "macro_f1": m.metrics.get("macro_f1"),
        }
        for m in registry.list_versions()
    ]
    return {"champion": champion, "models": models}


def cmd_models(args: argparse.Namespace) -> dict[str, Any]:
    registry = _registry(args)
    if args.models_command == "list":
        return _model_info(registry)
    if args.models_command == "show":
        version = registry.resolve(args.version)
        alias = registry.champion()
        return {
            **registry.get(version).model_dump(mode="json"),
            "is_champion": bool(alias and alias.version == version),
        }
    if args.models_command == "promote":
        alias = registry.promote(registry.resolve(args.version))
        return {"champion": alias.version, "history": alias.history}
    alias = registry.rollback()
    return {"champion": alias.version, "history": alias.history}


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def main(argv: Sequence[str] | None = None) -> int:
    from agnews_trainer.pipeline import SecondaryProcessDone

    args = build_parser().parse_args(argv)
    _configure_logging(args)
    handlers = {"run": cmd_run, "evaluate": cmd_evaluate, "models": cmd_models}
    try:
        result = handlers[args.command](args)
    except AgnewsError as err:
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"agnews-train: error: {message}", file=sys.stderr)
        return exit_code(err)
    except KeyboardInterrupt:
        print("agnews-train: interrupted", file=sys.stderr)
        return 130
    except SecondaryProcessDone as done:
        logging.getLogger(__name__).info("%s", done)
        return 0
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
