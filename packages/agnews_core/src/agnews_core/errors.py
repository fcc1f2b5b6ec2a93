"""Domain errors. No HTTP here: each service maps these to status codes in one table."""

from __future__ import annotations


class AgnewsError(Exception):
    """Base of every agnews domain error; `str(err)` is a message for the user."""


class InvalidInputError(AgnewsError):
    """The caller sent something unusable (bad file, bad parameter)."""


class PayloadTooLargeError(InvalidInputError):
    """Too many items or too many bytes."""


class NotFoundError(AgnewsError):
    """A named thing does not exist."""


class ModelNotFoundError(NotFoundError):
    """No model version by that name in the registry."""


class JobNotFoundError(NotFoundError):
    """No job by that id."""


class RegistryEmptyError(NotFoundError):
    """The registry holds no model, or no champion yet."""


class ConflictError(AgnewsError):
    """The request clashes with the current state (e.g. cancelling a finished job)."""


class PromotionRefusedError(AgnewsError):
    """A candidate may not become champion (e.g. evaluated on different test data)."""


class StorageError(AgnewsError):
    """The artifact store cannot be reached or refused the operation."""


class NotReadyError(AgnewsError):
    """The service is up but cannot serve yet (model not loaded, dependency down)."""


class OverloadedError(AgnewsError):
    """A bounded queue is full; the caller should retry later."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DataValidationError(AgnewsError):
    """Training data failed a hard validation check."""


class ConfigError(AgnewsError):
    """A configuration value is missing or inconsistent."""
