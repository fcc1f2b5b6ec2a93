"""Jobs shared by the gateway and the workers: the Redis store, the in-task runtime and the job metrics.

`store` holds records, idempotency keys, cancel flags and leases; `runtime` runs one delivery of a job;
`delivery` maps its outcome onto the broker message; `metrics` defines the job metrics once. The names
below are the public surface.
"""

from agnews_core.jobs.delivery import deliver
from agnews_core.jobs.metrics import JobMetrics, default_job_metrics
from agnews_core.jobs.runtime import JobContext, JobHandedBack, job_lease, retry_store, run_job
from agnews_core.jobs.store import (
    ACTIVE,
    JobCancelledError,
    JobStore,
    JobStoreUnavailableError,
    LeaseHeldError,
    new_job_id,
)

__all__ = [
    "ACTIVE",
    "JobCancelledError",
    "JobContext",
    "JobHandedBack",
    "JobMetrics",
    "JobStore",
    "JobStoreUnavailableError",
    "LeaseHeldError",
    "default_job_metrics",
    "deliver",
    "job_lease",
    "new_job_id",
    "retry_store",
    "run_job",
]
