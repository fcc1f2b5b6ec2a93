"""`agnews-train`: the JSON last line, every subcommand, and one clear line (no traceback) for user errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agnews_trainer.cli import main
from stack import free_port
from trainer_helpers import synthetic_rows, write_csv


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("TRAINER_REGISTRY_URI", "TRAINER_S3_ENDPOINT_URL", "TRAINER_DATA", "TRAINER_PRESET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TRAINER_WORK_DIR", str(tmp_path / "work"))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) <= 1, "stdout carries only the JSON result; progress goes to stderr"
    return code, (json.loads(lines[-1]) if code == 0 else {}), err


def _error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("agnews-train: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_run_models_and_evaluate(agnews_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = str(tmp_path / "registry")
    yaml_cfg = tmp_path / "run.yaml"
    yaml_cfg.write_text("preset: minilm\nlatency_samples: 2\nvalidation:\n  max_leakage_fraction: 0.2\n")
    code, first, err = _run(
        capsys,
        "run",
        "--data",
        str(agnews_folder),
        "--preset",
        "tfidf",
        "--registry",
        registry,
        "--config",
        str(yaml_cfg),
    )
    assert code == 0, err
    assert {"version", "promoted", "accuracy", "macro_f1"} <= set(first) and first["promoted"] is True
    assert first["preset"] == "tfidf"  # the flag beats the YAML file
    run_config = json.loads((Path(first["run_dir"]) / "run_config.json").read_text())
    assert run_config["latency_samples"] == 2 and run_config["validation"]["max_leakage_fraction"] == 0.2

    code, second, _ = _run(capsys, "run", "--data", str(agnews_folder), "--preset", "tfidf", "--registry", registry)
    assert code == 0 and second["promoted"] is False

    code, listed, _ = _run(capsys, "models", "list", "--registry", registry)
    assert listed["champion"] == first["version"]
    assert [m["version"] for m in listed["models"]] == [first["version"], second["version"]]
    assert listed["models"][0]["is_champion"] and listed["models"][0]["accuracy"] == first["accuracy"]

    code, shown, _ = _run(capsys, "models", "show", "champion", "--registry", registry)
    assert shown["version"] == first["version"] and shown["is_champion"] and "per_class" in shown["metrics"]

    code, promoted, _ = _run(capsys, "models", "promote", second["version"], "--registry", registry)
    assert promoted["champion"] == second["version"]
    code, rolled, _ = _run(capsys, "models", "rollback", "--registry", registry)
    assert rolled == {"champion": first["version"], "history": []}

    eval_csv = write_csv(tmp_path / "eval.csv", synthetic_rows(40, seed=5, start=7000), header=False)
    code, evaluated, _ = _run(
        capsys, "evaluate", "--registry", registry, "--model", "champion", "--data", str(eval_csv)
    )
    assert code == 0 and evaluated["n"] == 40 and evaluated["version"] == first["version"]
    assert 0.5 < evaluated["accuracy"] <= 1 and "macro_f1" in evaluated


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["run", "--data", "{tmp}/missing", "--preset", "tfidf"], 2, "data source {tmp}/missing does not exist"),
        (["run", "--data", "{data}", "--preset", "nope"], 2, "unknown preset 'nope'"),
        (["run", "--data", "{data}", "--preset", "tfidf", "--config", "{tmp}/none.yaml"], 2, "config file"),
        (["run", "--data", "{data}", "--preset", "tfidf", "--epochs", "-1"], 2, "epochs: Input should be greater"),
        (["models", "show"], 4, "has no champion yet"),
        (["models", "rollback"], 4, "has no champion to roll back"),
        (["models", "promote", "v1"], 4, "no model version 'v1'"),
        (["evaluate", "--data", "{data}"], 4, "has no champion yet"),
    ],
)
def test_user_errors_are_one_line(
    argv: list[str], code: int, message: str, agnews_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill = {"tmp": str(tmp_path), "data": str(agnews_folder)}
    argv = [a.format(**fill) for a in argv]
    got = main([*argv, "--registry", str(tmp_path / "registry")])
    out, err = capsys.readouterr()
    assert got == code, err
    assert message.format(**fill) in _error_line(err)
    assert out == ""


def test_malformed_csv_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    write_csv(data / "test.csv", synthetic_rows(8, seed=1))
    (data / "train.csv").write_text('1,"a","b"\n2,"c"," d","e"\n')
    got = main(["run", "--data", str(data), "--preset", "tfidf", "--registry", str(tmp_path / "r")])
    assert got == 2
    assert "train.csv row 2 (line 2): malformed CSV, expected 3 fields" in _error_line(capsys.readouterr().err)


def test_bad_label_is_a_validation_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    write_csv(data / "train.csv", [*synthetic_rows(40, seed=1), ("5", "t", "d d d d d d")])
    write_csv(data / "test.csv", synthetic_rows(8, seed=2, start=900))
    got = main(["run", "--data", str(data), "--preset", "tfidf", "--registry", str(tmp_path / "r")])
    assert got == 3
    assert "train.csv row 41: label '5' is not one of 1-4" in _error_line(capsys.readouterr().err)


def test_console_script_s3_unreachable_exits_without_traceback(agnews_folder: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "agnews-train"
    endpoint = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.run(
        [str(exe), "models", "list", "--registry", "s3://agnews/registry", "--s3-endpoint-url", endpoint],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "HOME": str(tmp_path)},
    )
    assert proc.returncode == 5
    assert proc.stdout == ""
    assert proc.stderr.strip().startswith("agnews-train: error: S3 unreachable")
    assert len(proc.stderr.strip().splitlines()) == 1
