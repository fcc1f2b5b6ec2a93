"""The naive baseline of `make bench-serving`: FastAPI calling a transformers.pipeline once per request.

What a first version of a model server usually is: a sync endpoint (FastAPI's thread pool runs concurrent
requests in parallel threads), the pipeline's own tokenization and padding, torch's default threads, no
batching across requests. Same request/response schema and text function as the real service.

    python bench/naive_baseline.py --model DIR --port 8002
"""

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def create_app(model_dir: str):  # type: ignore[no-untyped-def]
    from agnews_core.labels import label_id
    from agnews_core.schemas import ClassifyRequest, ClassifyResponse, Prediction
    from fastapi import FastAPI
    from transformers import pipeline

    classifier = pipeline("text-classification", model=model_dir, top_k=None, device="cpu")
    app = FastAPI(title="naive baseline")

    @app.get("/readyz")
    def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.post("/v1/classify", response_model=ClassifyResponse)
    def classify(body: ClassifyRequest) -> ClassifyResponse:
        outputs = classifier(body.model_inputs(), truncation=True, max_length=128)
        predictions = []
        for scores in outputs:
            best = max(scores, key=lambda s: s["score"])
            predictions.append(
                Prediction(
                    label=best["label"],
                    label_id=label_id(best["label"]),
                    scores={s["label"]: float(s["score"]) for s in scores},
                )
            )
        return ClassifyResponse(model_version="naive-pipeline", predictions=predictions)

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, default=8002)
    args = parser.parse_args()
    import uvicorn

    uvicorn.run(create_app(args.model), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
