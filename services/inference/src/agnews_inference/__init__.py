"""agnews model server: loads the champion once, micro-batches requests, hot-swaps on promotion."""

__version__ = "0.1.0"
