"""Celery task names and queues: the gateway sends by name, workers register under these names."""

from __future__ import annotations

TRAINING_QUEUE = "training"
BATCH_QUEUE = "batch"

TRAIN_TASK = "agnews.training.run"
BATCH_CLASSIFY_TASK = "agnews.batch.classify"

TASK_QUEUES: dict[str, str] = {TRAIN_TASK: TRAINING_QUEUE, BATCH_CLASSIFY_TASK: BATCH_QUEUE}
