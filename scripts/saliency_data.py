"""Cached backbone features for the saliency trainer, grouped by input size, and their projection.

scripts/saliency_features.py stores each set's images by the input size the product gives
them (their aspect ratio at about 384x512's area). A ``Group`` is one set at one size: its
rows share one grid, so they batch together. Needs torch (training only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "saliency"
# Validation images (indices into each training set's name list): early stopping and choices.
VAL = {"nus_train": range(350, 400), "osie_train": range(540, 600)}


@dataclass
class Group:
    set_name: str
    size: str  # "WxH" of the network input
    names: list[str]
    mirrored: bool
    taps: list[tuple[str, np.ndarray]]  # memory-mapped float16 (rows, C, h, w) per backbone tap
    counts: torch.Tensor  # fixations per stride-8 cell, (rows, H/8, W/8)
    fit: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # rows to train on
    val: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # validation rows (originals)

    @property
    def grid(self) -> tuple[int, int]:
        return int(self.counts.shape[1]), int(self.counts.shape[2])

    def rows(self, names: set[str], both_copies: bool) -> np.ndarray:
        per = 2 if self.mirrored else 1
        copies = range(per) if both_copies else range(1)
        return np.array([per * i + c for i, n in enumerate(self.names) if n in names for c in copies], np.int64)


def load_groups(backbones: list[str], set_name: str) -> list[Group]:
    """Every size group of one set, with fit/validation rows marked (training sets only)."""
    index = json.loads((CACHE / backbones[0] / f"{set_name}.names.json").read_text())
    if "sizes" not in index:
        raise SystemExit(f"{set_name}: cache predates aspect-preserving inputs; rerun scripts/saliency_features.py")
    val_names = {index["names"][i] for i in VAL.get(set_name, range(0))}
    groups = []
    for size in index["sizes"]:
        taps: list[tuple[str, np.ndarray]] = []
        for bb in backbones:
            info = json.loads((CACHE / bb / f"{set_name}.{size}.names.json").read_text())
            for t in info["taps"]:
                taps.append((f"{bb}:{t}", np.load(CACHE / bb / f"{set_name}.{size}.{t}.npy", mmap_mode="r")))
        counts = torch.from_numpy(np.load(CACHE / backbones[0] / f"{set_name}.{size}.counts.npy"))
        g = Group(set_name, size, info["names"], info["mirrored"], taps, counts)
        if set_name in VAL:
            g.fit = g.rows(set(g.names) - val_names, both_copies=True)
            g.val = g.rows(val_names, both_copies=False)
        groups.append(g)
    return groups


class Projection:
    """Per tap: channel standardisation, then the top principal components of the channels.

    The readout's first layer is linear in the features, so training it on k principal
    components and exporting W @ P.T / sd (bias shifted by the mean) is exact. Keeping the
    leading components (Lite0 with 48/96/128/256: 100/96/77/57% of the standardised variance)
    restricts the readout to the features' main directions, a regulariser, and makes the
    training set small enough to hold in memory (~0.5 GB), so an epoch costs seconds of CPU.
    """

    def __init__(self, groups: list[Group], components: dict[str, int]) -> None:
        self.mu: dict[str, np.ndarray] = {}
        self.sd: dict[str, np.ndarray] = {}
        self.basis: dict[str, np.ndarray] = {}
        self.explained: dict[str, float] = {}
        for i, (name, _) in enumerate(groups[0].taps):
            parts = [g.taps[i][1][np.sort(g.fit[::7])].astype(np.float32) for g in groups if len(g.fit[::7])]
            x = np.concatenate([p.transpose(0, 2, 3, 1).reshape(-1, p.shape[1]) for p in parts])
            mu, sd = x.mean(0), x.std(0) + 1e-3
            z = (x - mu) / sd
            vals, vecs = np.linalg.eigh((z.T @ z / len(z)).astype(np.float64))
            k = min(components.get(name.split(":")[1], len(vals)), len(vals))
            order = np.argsort(vals)[::-1][:k]
            self.mu[name], self.sd[name], self.basis[name] = mu, sd, vecs[:, order].astype(np.float32)
            self.explained[name] = float(vals[order].sum() / vals.sum())

    def apply(self, group: Group) -> list[torch.Tensor]:
        out = []
        for name, arr in group.taps:
            p = np.empty((len(arr), self.basis[name].shape[1], *arr.shape[2:]), np.float16)
            for b in range(0, len(arr), 32):
                x = (arr[b : b + 32].astype(np.float32) - self.mu[name][:, None, None]) / self.sd[name][:, None, None]
                p[b : b + 32] = np.einsum("nchw,ck->nkhw", x, self.basis[name])
            out.append(torch.from_numpy(p))
        return out


def projected(
    backbones: list[str], train: list[Group], every: list[Group], components: dict[str, int]
) -> tuple[Projection, dict[tuple[str, str], list[torch.Tensor]]]:
    """The projection fitted on the training groups' fit rows, and every group projected (cached)."""
    sets = "+".join(sorted({g.set_name for g in train}))
    key = f"aspect_{'+'.join(backbones)}_{sets}_{'-'.join(str(v) for v in components.values())}"
    path = CACHE / "projected" / f"{key}.pt"
    if path.exists():
        proj, tens = torch.load(path, weights_only=False)
        return proj, tens
    proj = Projection(train, components)
    tens = {(g.set_name, g.size): proj.apply(g) for g in every}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save((proj, tens), path)
    return proj, tens
