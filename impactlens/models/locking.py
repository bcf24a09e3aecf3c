"""An advisory lock file for the model folder, so that builds started at once (`make run`
beside `make test`, two shells) take turns instead of writing the same files together."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no locking (one build at a time, please)
    fcntl = None  # type: ignore[assignment]


@contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Holds an exclusive lock on `lock_file` (created if missing) for the block; waits for it.
    The kernel drops the lock when its holder dies, so a killed build never blocks the next."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
