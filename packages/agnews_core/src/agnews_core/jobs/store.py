"""Job records in Redis, shared by the gateway (creates, lists, cancels) and the workers (run, report).

One hash per job holds what `Job` shows plus bookkeeping (attempts, cancel flag, idempotency key); a sorted
set indexes jobs by creation time for listing. State changes are Lua scripts that check the current state,
so a redelivered or late task can never move a finished job (a cancelled job stays cancelled, a succeeded
job is never re-run). A short lease, renewed by a heartbeat while a task works, keeps two deliveries of one
job from running at once: a worker that was killed loses its lease when it stops renewing it.

Running jobs are also members of one set, so the reaper (agnews_gateway.reaper) finds a job whose lease
expired without reading every record. A job about to make its result visible (a training run moving the
champion) first `commit`s: from then on a cancel is refused, and a job cancelled before that never commits,
so cancel and promotion cannot interleave. A committed job stays committed across redeliveries (its champion
may already have moved).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

import redis

from agnews_core.errors import AgnewsError, ConflictError, JobNotFoundError, NotReadyError
from agnews_core.jobs.scripts import CANCEL, COMMIT, CREATE, REAP, RELEASE, RENEW, TRANSITION
from agnews_core.schemas import Job, JobProgress, JobState, JobType

ACTIVE = f"{JobState.QUEUED},{JobState.RUNNING}"


class JobStoreUnavailableError(NotReadyError):
    """Redis, which holds the job records, cannot be reached."""


class JobCancelledError(AgnewsError):
    """Raised inside a job's work when its cancel flag is set."""


class LeaseHeldError(AgnewsError):
    """Another delivery of the same job holds its lease (it is running, or died less than a lease ago)."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


def new_job_id() -> str:
    return uuid.uuid4().hex


class JobStore:
    """Job records, idempotency keys, cancel flags and leases in one Redis database."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "agnews",
        job_ttl_s: int = 7 * 24 * 3600,
        idempotency_ttl_s: int = 24 * 3600,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.job_ttl_s = job_ttl_s
        self.idempotency_ttl_s = min(idempotency_ttl_s, job_ttl_s)
        self._create = client.register_script(CREATE)
        self._transition = client.register_script(TRANSITION)
        self._renew = client.register_script(RENEW)
        self._release = client.register_script(RELEASE)
        self._cancel = client.register_script(CANCEL)
        self._commit = client.register_script(COMMIT)
        self._reap = client.register_script(REAP)
        kwargs = client.connection_pool.connection_kwargs
        self.where = f"{kwargs.get('host', kwargs.get('path', '?'))}:{kwargs.get('port', '')}".rstrip(":")

    @classmethod
    def from_url(cls, url: str, *, timeout_s: float = 2.0, **kwargs: Any) -> JobStore:
        client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, decode_responses=True
        )
        return cls(client, **kwargs)

    def close(self) -> None:
        self.client.close()

    # -- keys ---------------------------------------------------------------------------------------------
    def _job_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    @property
    def _index_key(self) -> str:
        return f"{self.prefix}:jobs"

    def _idem_key(self, job_type: JobType, owner: str, key: str) -> str:
        # scoped per owner: the same key from two callers names two jobs
        return f"{self.prefix}:idem:{job_type}:{owner}:{key}"

    def _lease_key(self, job_id: str) -> str:
        return f"{self.prefix}:lease:{job_id}"

    @property
    def _running_key(self) -> str:
        return f"{self.prefix}:running"

    @property
    def _queued_key(self) -> str:
        return f"{self.prefix}:queued"

    def _keys(self, job_id: str) -> list[str]:
        return [self._job_key(job_id), self._running_key, self._queued_key]

    @contextmanager
    def _redis(self) -> Iterator[None]:
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise JobStoreUnavailableError(f"Redis (job store at {self.where}) is unreachable: {exc}") from None
        except redis.RedisError as exc:  # e.g. OOM, read-only replica, auth
            raise JobStoreUnavailableError(f"Redis (job store at {self.where}) refused the request: {exc}") from None

    # -- gateway side -------------------------------------------------------------------------------------
    def ping(self) -> None:
        with self._redis():
            self.client.ping()

    def create(
        self,
        job_type: JobType,
        params: dict[str, Any],
        idempotency_key: str | None = None,
        *,
        owner: str = "",
    ) -> tuple[Job, bool]:
        """A new queued job, or the job this owner already created with this idempotency key (`created` False).

        `owner` is the caller's identity (a client key's name; "" for anonymous callers): listing filters on it.
        """
        job_id = new_job_id()
        created_at = _now()
        fields = {
            "id": job_id,
            "type": str(job_type),
            "state": str(JobState.QUEUED),
            "created_at": created_at,
            "started_at": "",
            "finished_at": "",
            "params": json.dumps(params),
            "result": "",
            "error": "",
            "progress_fraction": "0",
            "progress_message": "queued",
            "cancel": "0",
            "attempts": "0",
            "idempotency_key": idempotency_key or "",
            "owner": owner,
        }
        flat = [v for pair in fields.items() for v in pair]
        idem = self._idem_key(job_type, owner, idempotency_key) if idempotency_key else ""
        with self._redis():
            got = self._create(
                keys=[self._job_key(job_id), self._index_key, idem, self._queued_key],
                args=[job_id, time.time(), self.job_ttl_s, self.idempotency_ttl_s, f"{self.prefix}:job:", *flat],
            )
        if got != job_id:
            return self.get(str(got)), False
        return self.get(job_id), True

    def get(self, job_id: str) -> Job:
        with self._redis():
            raw = cast(dict[str, str], self.client.hgetall(self._job_key(job_id)))
        if not raw:
            raise JobNotFoundError(f"no job with id {job_id!r} (unknown, or expired)")
        return _to_job(raw)

    def list(self, limit: int = 100, job_type: JobType | None = None, owner: str | None = None) -> list[Job]:
        """Newest first; only `owner`'s jobs when given (None: everyone's, for admins)."""
        with self._redis():
            # a type filter drops rows, so read further back than `limit` (jobs expire, the index stays bounded)
            filtered = job_type is not None or owner is not None
            ids = cast(list[str], self.client.zrevrange(self._index_key, 0, (limit * 5 if filtered else limit) - 1))
            pipe = self.client.pipeline(transaction=False)
            for job_id in ids:
                pipe.hgetall(self._job_key(job_id))
            rows = cast(list[dict[str, str]], pipe.execute())
            expired = [job_id for job_id, row in zip(ids, rows, strict=True) if not row]
            if expired:
                self.client.zrem(self._index_key, *expired)
        jobs = [_to_job(row) for row in rows if row]
        if job_type is not None:
            jobs = [j for j in jobs if j.type == job_type]
        if owner is not None:
            jobs = [j for j in jobs if j.owner == owner]
        return jobs[:limit]

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job: state cancelled at once, and a flag the running task checks."""
        with self._redis():
            applied = self._cancel(keys=self._keys(job_id), args=[_now()])
        if applied == -1:
            raise JobNotFoundError(f"no job with id {job_id!r} (unknown, or expired)")
        job = self.get(job_id)
        if applied == 2:
            raise ConflictError(
                f"job {job_id} is already publishing its result ({job.progress.message}); it can no longer be cancelled"
            )
        if applied == 0:
            raise ConflictError(f"job {job_id} already {job.state}; only queued or running jobs can be cancelled")
        return job

    def fail(self, job_id: str, error: str) -> bool:
        """Mark a job failed (e.g. the gateway could not queue it)."""
        return self._finish(job_id, JobState.FAILED, error=error)

    # -- worker side --------------------------------------------------------------------------------------
    def mark_running(self, job_id: str) -> bool:
        """queued/running -> running (a redelivery counts another attempt); False once the job is finished."""
        return self._apply(job_id, ACTIVE, "state", str(JobState.RUNNING), "progress_message", "started", attempt=True)

    def set_progress(self, job_id: str, fraction: float, message: str, eta_s: float | None = None) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        eta = "" if eta_s is None else repr(max(0.0, round(float(eta_s), 1)))
        self._apply(
            job_id,
            JobState.RUNNING,
            "progress_fraction",
            repr(fraction),
            "progress_message",
            message,
            "progress_eta_s",
            eta,
        )

    def succeed(self, job_id: str, result: dict[str, Any]) -> bool:
        return self._finish(job_id, JobState.SUCCEEDED, result=result)

    def mark_cancelled(self, job_id: str) -> bool:
        return self._finish(job_id, JobState.CANCELLED)

    def _finish(
        self, job_id: str, state: JobState, result: dict[str, Any] | None = None, error: str | None = None
    ) -> bool:
        fields = ["state", str(state), "finished_at", _now(), "error", error or "", "progress_eta_s", ""]
        if result is not None:
            fields += ["result", json.dumps(result)]
        if state == JobState.SUCCEEDED:
            fields += ["progress_fraction", "1.0", "progress_message", "done"]
        else:
            fields += ["progress_message", str(state)]
        return self._apply(job_id, ACTIVE, *fields)

    def _apply(self, job_id: str, allowed: str, *fields: str, attempt: bool = False) -> bool:
        """Set field pairs while the job is in one of `allowed` (comma separated); `attempt` counts a delivery."""
        with self._redis():
            applied = self._transition(
                keys=self._keys(job_id),
                args=[str(allowed), "1" if attempt else "0", _now() if attempt else "", *fields],
            )
        return bool(applied == 1)

    def commit(self, job_id: str) -> bool:
        """Take the point of no return (e.g. before moving the champion); False when the job was cancelled."""
        with self._redis():
            return bool(self._commit(keys=[self._job_key(job_id)]) == 1)

    def hand_back(self, job_id: str, message: str) -> bool:
        """running -> queued: a draining worker stopped the job at a checkpoint; another delivery resumes it."""
        return self._apply(job_id, JobState.RUNNING, "state", str(JobState.QUEUED), "progress_message", message)

    # -- reaper side --------------------------------------------------------------------------------------
    def running_ids(self) -> tuple[str, ...]:
        with self._redis():
            return tuple(sorted(cast(set[str], self.client.smembers(self._running_key))))

    def queued_since(self, older_than_s: float) -> tuple[str, ...]:
        """Jobs queued for longer than `older_than_s` (their message may be lost); records gone are dropped."""
        with self._redis():
            ids = cast(list[str], self.client.zrangebyscore(self._queued_key, "-inf", time.time() - older_than_s))
            pipe = self.client.pipeline(transaction=False)
            for job_id in ids:
                pipe.hget(self._job_key(job_id), "state")
            states = cast(list[str | None], pipe.execute())
            gone = [job_id for job_id, state in zip(ids, states, strict=True) if state != JobState.QUEUED]
            if gone:
                self.client.zrem(self._queued_key, *gone)
        return tuple(job_id for job_id, state in zip(ids, states, strict=True) if state == JobState.QUEUED)

    def touch_queued(self, job_id: str) -> None:
        """Restart a queued job's clock (it was just sent again)."""
        with self._redis():
            self.client.zadd(self._queued_key, {job_id: time.time()}, xx=True)

    def reap(self, job_id: str, max_attempts: int) -> str:
        """A running job whose lease expired: "requeued", "failed" (attempts used up), or "alive"/"gone"."""
        message = f"re-queued: its worker was lost (lease expired); attempt {{n}} of {max_attempts} next"
        with self._redis():
            attempts = int(self.client.hget(self._job_key(job_id), "attempts") or 0)
            got = self._reap(
                keys=[*self._keys(job_id), self._lease_key(job_id)],
                args=[max_attempts, _now(), message.format(n=attempts + 1), job_id],
            )
        return {1: "requeued", 2: "failed", -1: "gone"}.get(int(got), "alive")

    def exists(self, job_id: str) -> bool:
        with self._redis():
            return bool(self.client.exists(self._job_key(job_id)))

    def trim_index(self) -> int:
        """Drop index entries older than the job TTL (their records expired); returns how many."""
        with self._redis():
            return int(self.client.zremrangebyscore(self._index_key, "-inf", time.time() - self.job_ttl_s))

    def cancel_requested(self, job_id: str) -> bool:
        with self._redis():
            return self.client.hget(self._job_key(job_id), "cancel") == "1"

    def attempts(self, job_id: str) -> int:
        with self._redis():
            return int(self.client.hget(self._job_key(job_id), "attempts") or 0)

    def claim(self, job_id: str, owner: str, lease_s: float) -> bool:
        with self._redis():
            return bool(self.client.set(self._lease_key(job_id), owner, nx=True, px=int(lease_s * 1000)))

    def renew(self, job_id: str, owner: str, lease_s: float) -> bool:
        with self._redis():
            return bool(self._renew(keys=[self._lease_key(job_id)], args=[owner, int(lease_s * 1000)]))

    def release(self, job_id: str, owner: str) -> None:
        with self._redis():
            self._release(keys=[self._lease_key(job_id)], args=[owner])


def _to_job(raw: dict[str, str]) -> Job:
    return Job(
        id=raw["id"],
        type=JobType(raw["type"]),
        state=JobState(raw["state"]),
        progress=JobProgress(
            fraction=float(raw.get("progress_fraction") or 0),
            message=raw.get("progress_message", ""),
            eta_s=float(raw["progress_eta_s"]) if raw.get("progress_eta_s") else None,
        ),
        created_at=datetime.fromisoformat(raw["created_at"]),
        started_at=datetime.fromisoformat(raw["started_at"]) if raw.get("started_at") else None,
        finished_at=datetime.fromisoformat(raw["finished_at"]) if raw.get("finished_at") else None,
        params=json.loads(raw.get("params") or "{}"),
        result=json.loads(raw["result"]) if raw.get("result") else None,
        error=raw.get("error") or None,
        owner=raw.get("owner") or None,
        attempts=int(raw.get("attempts") or 0),
    )
