"""agnews trainer: the six pipeline stages, the `agnews-train` CLI and the Celery training worker.

Nothing heavy is imported here: the worker and the CLI import torch only when a run starts.
"""

__version__ = "0.1.0"
