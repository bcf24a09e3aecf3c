"""Progress reporting for pipeline steps: one tqdm bar per step on a terminal."""

from __future__ import annotations

import sys

from tqdm import tqdm


class StepBars:
    """A ``Progress`` callable: ``bars(step, done, total)`` draws and updates one bar per step."""

    def __init__(self, label: str, enabled: bool = True) -> None:
        self.label = label
        self.enabled = enabled
        self._bars: dict[str, tqdm] = {}

    def __call__(self, step: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self._bars.get(step)
        if bar is None:
            bar = tqdm(total=total, desc=f"{self.label[:24]} {step}", unit="", file=sys.stderr, leave=False)
            self._bars[step] = bar
        bar.total = max(total, done)
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
