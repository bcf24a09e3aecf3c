"""Who owns a temporary file: the writing process's pid and host, recorded in its name.

Several processes may share one data dir (``impactlens serve`` and a CLI run, two servers),
so a start-up sweep may remove a spool or half-written blob only when it is provably
abandoned: its owner (same host) is no longer running. A file whose owner cannot be judged
here (another host or container sharing the dir) is removed only once it is older than
``FOREIGN_STALE_S``: uploads have no hard time limit in the code, so a day is the margin,
far beyond any upload or validation the limits allow in practice. A name without a tag was
written by a version before tags, which no process of this version is: it goes, as before.
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

FOREIGN_STALE_S = 24 * 3600.0
_TAG = re.compile(r"~(\d+)~([A-Za-z0-9.-]*)~")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "", socket.gethostname())[:64]


def tag() -> str:
    """This process's mark, to put in the name of a temporary file it creates."""
    return f"~{os.getpid()}~{_host()}~"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True


def abandoned(path: Path, now: float | None = None) -> bool:
    """True when ``path``'s owner has stopped (on another host: when the file is a day old)."""
    found = _TAG.findall(path.name)
    if not found:
        return True
    pid, host = found[-1]  # the last tag is the writer's (a blob name might hold one too)
    if host == _host():
        return not _running(int(pid))
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False
    return age > FOREIGN_STALE_S
