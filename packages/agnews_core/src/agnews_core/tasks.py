"""Celery task names and queues: the gateway sends by name, workers register under these names."""

from __future__ import annotations

TRAINING_QUEUE = "training"
BATCH_QUEUE = "batch"

TRAIN_TASK = "agnews.training.run"
BATCH_CLASSIFY_TASK = "agnews.batch.classify"

TASK_QUEUES: dict[str, str] = {TRAIN_TASK: TRAINING_QUEUE, BATCH_CLASSIFY_TASK: BATCH_QUEUE}


def unacked_keys(queue: str) -> dict[str, str]:
    """The Redis keys a worker of `queue` keeps its unacknowledged messages under (kombu transport options)."""
    return {
        "unacked_key": f"unacked:{queue}",
        "unacked_index_key": f"unacked_index:{queue}",
        "unacked_mutex_key": f"unacked_mutex:{queue}",
    }


def celery_config(
    redis_url: str,
    *,
    visibility_timeout_s: int,
    result_expires_s: int,
    result_backend: str | None = None,
    queue: str | None = None,
) -> dict[str, object]:
    """Celery settings every agnews app shares (gateway sender, batch and training workers).

    acks_late + reject_on_worker_lost + prefetch 1: a message is acknowledged only after its task finished,
    so a worker killed mid-job leaves it unacknowledged and Redis hands it out again once the visibility
    timeout passed. Tasks are idempotent (job state checks and a lease in `agnews_core.jobs`), so a second
    delivery cannot run a job twice.

    `queue`: a worker consuming one queue keeps its unacknowledged messages under keys of its own, so each
    queue's visibility timeout is its own (kombu sweeps one unacked index per key set: with a shared one, the
    batch worker's sweep would hand a still-running training message out again after the batch timeout).
    Senders leave it unset: they never hold unacknowledged messages.
    """
    transport: dict[str, object] = {
        "visibility_timeout": visibility_timeout_s,
        # kombu sweeps for expired unacked messages every interval * throttle seconds (100 s by default):
        # keep the sweep a fraction of the visibility timeout so a dead worker's job comes back promptly.
        "unacked_restore_interval": max(1, min(60, visibility_timeout_s // 5)),
        "unacked_restore_throttle": 1,
        "socket_timeout": 5,
        "socket_connect_timeout": 5,
        "health_check_interval": 10,
    }
    if queue is not None:
        transport.update(unacked_keys(queue))
    return {
        "broker_url": redis_url,
        "result_backend": result_backend or redis_url,
        "broker_transport_options": transport,
        "result_backend_transport_options": {"visibility_timeout": visibility_timeout_s},
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 5,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "result_expires": result_expires_s,
        "task_routes": {name: {"queue": queue} for name, queue in TASK_QUEUES.items()},
        "task_default_queue": BATCH_QUEUE,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_track_started": True,
        "task_publish_retry_policy": {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "broker_pool_limit": 10,
    }
