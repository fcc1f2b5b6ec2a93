"""One Celery delivery of a job: what each way out of `run_job` means for the broker message.

Shared by the batch and training tasks (Celery is imported lazily: agnews_core itself does not need it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from agnews_core.jobs.runtime import JobHandedBack
from agnews_core.jobs.store import JobStoreUnavailableError, LeaseHeldError

log = logging.getLogger(__name__)


def deliver(task: Any, run: Callable[[], str], *, lease_s: float) -> str:
    """Run one delivery: retry later when another holds the lease; give the message back, never drop it.

    A job handed back by a draining worker, or whose outcome could not be recorded because Redis stayed
    down, is rejected with requeue: Celery must not acknowledge it (with acks_late a failed task is acked,
    and the job would stay `running` until its TTL).
    """
    from celery.exceptions import Reject

    try:
        return run()
    except LeaseHeldError as exc:
        # Another delivery runs it, or one died holding the lease: look again once the lease could expire.
        raise task.retry(exc=exc, countdown=lease_s) from None
    except JobHandedBack as exc:
        raise Reject(str(exc), requeue=True) from None
    except JobStoreUnavailableError as exc:
        log.warning("giving the message back: %s", exc)
        time.sleep(1.0)  # a Redis that just came back should not see the same message every millisecond
        raise Reject(str(exc), requeue=True) from None
