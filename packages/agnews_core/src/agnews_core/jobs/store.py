"""Job records in Redis, shared by the gateway (creates, lists, cancels) and the workers (run, report).

One hash per job holds what `Job` shows plus bookkeeping (attempts, cancel flag, idempotency key); a sorted
set indexes jobs by creation time for listing. State changes are Lua scripts that check the current state,
so a redelivered or late task can never move a finished job (a cancelled job stays cancelled, a succeeded
job is never re-run). A short lease, renewed by a heartbeat while a task works, keeps two deliveries of one
job from running at once: a worker that was killed loses its lease when it stops renewing it.
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
from agnews_core.schemas import Job, JobProgress, JobState, JobType

_CREATE = """
if KEYS[3] ~= '' then
  local existing = redis.call('GET', KEYS[3])
  if existing and redis.call('EXISTS', ARGV[5] .. existing) == 1 then return existing end
  redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[4])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return ARGV[1]
"""

# Apply field updates only while the job is in one of the allowed states (ARGV[1], comma separated).
# ARGV[2] == '1' also counts an attempt and keeps the first started_at (ARGV[3]).
_TRANSITION = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return -1 end
for allowed in string.gmatch(ARGV[1], '[^,]+') do
  if allowed == state then
    if ARGV[2] == '1' then
      redis.call('HINCRBY', KEYS[1], 'attempts', 1)
      if redis.call('HGET', KEYS[1], 'started_at') == '' then redis.call('HSET', KEYS[1], 'started_at', ARGV[3]) end
    end
    if #ARGV > 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
    return 1
  end
end
return 0
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

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
        self._create = client.register_script(_CREATE)
        self._transition = client.register_script(_TRANSITION)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
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
                keys=[self._job_key(job_id), self._index_key, idem],
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
        now = _now()
        with self._redis():
            applied = self._transition(
                keys=[self._job_key(job_id)],
                args=[
                    ACTIVE,
                    "0",
                    "",
                    "state",
                    str(JobState.CANCELLED),
                    "cancel",
                    "1",
                    "finished_at",
                    now,
                    "progress_message",
                    "cancelled",
                ],
            )
        if applied == -1:
            raise JobNotFoundError(f"no job with id {job_id!r} (unknown, or expired)")
        job = self.get(job_id)
        if applied == 0:
            raise ConflictError(f"job {job_id} already {job.state}; only queued or running jobs can be cancelled")
        return job

    def fail(self, job_id: str, error: str) -> bool:
        """Mark a job failed (e.g. the gateway could not queue it)."""
        return self._finish(job_id, JobState.FAILED, error=error)

    # -- worker side --------------------------------------------------------------------------------------
    def mark_running(self, job_id: str) -> bool:
        """queued/running -> running (a redelivery counts another attempt); False once the job is finished."""
        with self._redis():
            applied = self._transition(
                keys=[self._job_key(job_id)],
                args=[ACTIVE, "1", _now(), "state", str(JobState.RUNNING), "progress_message", "started"],
            )
        return bool(applied == 1)

    def set_progress(self, job_id: str, fraction: float, message: str, eta_s: float | None = None) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        eta = "" if eta_s is None else repr(max(0.0, round(float(eta_s), 1)))
        with self._redis():
            self._transition(
                keys=[self._job_key(job_id)],
                args=[
                    str(JobState.RUNNING),
                    "0",
                    "",
                    "progress_fraction",
                    repr(fraction),
                    "progress_message",
                    message,
                    "progress_eta_s",
                    eta,
                ],
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
        with self._redis():
            applied = self._transition(keys=[self._job_key(job_id)], args=[ACTIVE, "0", "", *fields])
        return bool(applied == 1)

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
    )
