"""Keep a Celery worker alive when Redis vanishes while it holds unacknowledged messages.

kombu 5.7's Redis transport restores a channel's unacknowledged messages when the channel closes. When the
connection was lost (Redis stopped or restarted), Celery closes the channel after the transport has already
dropped its client, and the restore raises AttributeError ('NoneType' object has no attribute 'hostname'),
which Celery treats as unrecoverable: the worker process exits instead of reconnecting (seen in the fault
suite: tests/e2e/test_stack.py::test_redis_down_then_back, tests/faults). Nothing is lost by skipping that
restore: the messages stay in the queue's unacked hash in Redis (when Redis kept its data), where the
visibility-timeout sweep of the next connection hands them out again, and the reaper re-queues a job whose
lease expired either way.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

_MARK = "_agnews_guarded"


def guard_unacked_restore() -> None:
    """Make kombu's Redis QoS.restore_unacked log instead of raise once the connection is gone (idempotent)."""
    from kombu.transport import redis as kombu_redis

    original = kombu_redis.QoS.restore_unacked
    if getattr(original, _MARK, False):
        return

    def restore_unacked(self: Any, client: Any = None) -> Any:
        try:
            return original(self, client)
        except Exception as exc:
            log.warning(
                "could not restore %d unacknowledged message(s) on a lost broker connection (%s: %s); "
                "they stay in Redis for the visibility-timeout sweep",
                len(self._delivered),
                type(exc).__name__,
                exc,
            )
            self._delivered.clear()
            return None

    setattr(restore_unacked, _MARK, True)
    kombu_redis.QoS.restore_unacked = restore_unacked  # type: ignore[method-assign]
