"""Errors with a stable code, so the CLI and the API can report them precisely."""

from __future__ import annotations

import re

_BLOB_KEYS = re.compile(r"\b(?:orgs|work|out)/[^\s'\"]+")
_PATHS = re.compile(r"(?<![\w:/])(?:[A-Za-z]:)?(?:[/\\][^\s'\"/\\:,;()]+){2,}[/\\]?")
_ERRNO = re.compile(r"\[Errno -?\d+\]\s*")
# A quoted absolute path (how PyAV and OSError name a file) is one path even with spaces in
# it: "/Users/Jane Doe/..." or ".../Application Support/..." otherwise lost only its first part.
_QUOTED_PATHS = re.compile(r"""(['"])(?:[A-Za-z]:)?[/\\](?:(?!\1)[^\n])*\1""")


def scrub(message: str) -> str:
    """A message for a client (an API answer, a webhook): no server paths, blob keys or errno
    noise (the log keeps them)."""
    message = _QUOTED_PATHS.sub(r"\1<path>\1", message)
    message = _BLOB_KEYS.sub("<file>", message)
    message = _PATHS.sub("<path>", message)
    return _ERRNO.sub("", message)


class ImpactLensError(Exception):
    code = "impactlens_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[type, tuple[str, ...]]:
        # Keeps the code when an error crosses a process boundary (the local fan-out's pool).
        return (type(self), (self.message, self.code) if isinstance(self, MediaError) else (self.message,))


class MediaError(ImpactLensError):
    """The input cannot be analysed (corrupt, truncated, unsupported, too large...)."""

    code = "invalid_media"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class ModelNotReadyError(ImpactLensError):
    """Converted model files are missing: run `impactlens models build`."""

    code = "model_not_ready"


class ConfigurationError(ImpactLensError):
    """Settings that cannot work together (e.g. a saliency model that needs another memorability model)."""

    code = "configuration_error"
