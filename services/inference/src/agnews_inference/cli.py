"""`agnews-inference`: run the model server with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys

from pydantic import ValidationError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agnews-inference", description="Serve the champion AG News classifier.")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="port (default 8001)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--access-log", action="store_true", help="log every request (off: /metrics counts them)")
    args = parser.parse_args(argv)

    import uvicorn

    from agnews_inference.app import create_app
    from agnews_inference.settings import InferenceSettings

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = InferenceSettings()
    except ValidationError as exc:
        fields = ", ".join("INFERENCE_" + str(e["loc"][0]).upper() + f" ({e['msg']})" for e in exc.errors())
        print(f"agnews-inference: invalid settings: {fields}", file=sys.stderr)
        return 2
    # One worker process: the model runs on one thread with every core; more processes would only contend.
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
