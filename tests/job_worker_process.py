"""A job worker in its own process (the restart test kills it mid-job)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from impactlens.jobs.worker import JobWorker
from impactlens.services import embedded_services
from tests.api_support import api_settings

if __name__ == "__main__":
    settings = api_settings(Path(sys.argv[1]), job_lease_s=1.0)
    settings = settings.model_copy(update={"data_dir": Path(sys.argv[1])})
    worker = JobWorker(embedded_services(settings), "doomed-worker")
    while True:
        if not worker.run_once():
            time.sleep(0.05)
