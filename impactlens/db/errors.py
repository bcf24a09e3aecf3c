"""The repository's errors; each carries the API's error ``code``."""

from __future__ import annotations


class NotFoundError(LookupError):
    code = "not_found"


class ConflictError(ValueError):
    code = "conflict"


class LastAdminError(ConflictError):
    """Demoting (or removing) the only Admin would lock the organisation out of its settings."""


class QuotaExceededError(ConflictError):
    code = "quota_exceeded"
