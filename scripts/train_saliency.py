"""Trains the saliency readout on NUS 001-400 + OSIE 1001-1600; scores NUS 401-500 and OSIE 1601-1700.

Reproducible: fixed seed, fixed splits, deterministic CPU ops. Needs torch for training only
(the product never imports it). Features come from scripts/saliency_features.py (cached):

    .venv-train/bin/python scripts/saliency_features.py --backbone lite0
    .venv-train/bin/python scripts/train_saliency.py --backbones lite0 --export

Early stopping on NUS 351-400 + OSIE 1541-1600 (validation log-likelihood); the fit uses the
rest of the training split, each image as is and mirrored. ``--train nus`` or ``--train osie``
fits on one set only (cross-dataset figures); ``--test`` scores the held-out splits with the
benchmark protocols (impactlens/evaluation/protocol.py) from the cached test features.
``--export`` writes impactlens/models/weights/saliency_readout_<backbones>.npz.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impactlens.evaluation.protocol import METRICS, evaluate, nus, osie, summarise  # noqa: E402
from impactlens.media.heatmap import upsample_density  # noqa: E402
from impactlens.models.readout import GRID, gaussian_kernel  # noqa: E402

CACHE = ROOT / ".cache" / "saliency"
DATA = ROOT.parent / "shared" / "data"
WEIGHTS = ROOT / "impactlens" / "models" / "weights"
H, W = GRID
VAL = {"nus_train": range(350, 400), "osie_train": range(540, 600)}  # image indices in each set


class Features:
    """Memory-mapped cached taps of several backbones for one set; standardised per batch."""

    def __init__(self, backbones: list[str], set_name: str) -> None:
        self.taps: list[tuple[str, np.ndarray]] = []
        for bb in backbones:
            info = json.loads((CACHE / bb / f"{set_name}.names.json").read_text())
            for t in info["taps"]:
                self.taps.append((f"{bb}:{t}", np.load(CACHE / bb / f"{set_name}.{t}.npy", mmap_mode="r")))
        self.names: list[str] = info["names"]
        self.mirrored: bool = info["mirrored"]
        self.counts = torch.from_numpy(np.load(CACHE / backbones[0] / f"{set_name}.counts.npy"))

    def batch(self, rows: np.ndarray, mu: dict[str, np.ndarray], sd: dict[str, np.ndarray]) -> list[torch.Tensor]:
        out = []
        for name, arr in self.taps:
            x = (arr[np.sort(rows)].astype(np.float32) - mu[name][:, None, None]) / sd[name][:, None, None]
            out.append(torch.from_numpy(x))
        return out


class Readout(torch.nn.Module):
    def __init__(
        self, split: tuple[int, ...], sigma: float, hidden: tuple[int, ...], dropout: float, centre: tuple[int, int]
    ) -> None:
        super().__init__()
        dims = (sum(split), *hidden, 1)
        self.layers = torch.nn.ModuleList(torch.nn.Conv2d(a, b, 1) for a, b in zip(dims, dims[1:], strict=False))
        self.split, self.dropout = split, dropout
        self.centre = torch.nn.Parameter(torch.zeros(1, 1, *centre))
        self.register_buffer("kernel", torch.from_numpy(gaussian_kernel(sigma)))

    def forward(self, taps: list[torch.Tensor]) -> torch.Tensor:
        # The first 1x1 convolution commutes with the (linear, per-channel) upsampling, so it
        # runs on each tap at its own resolution: about 10x less work than upsampling first.
        first = self.layers[0]
        x = first.bias.view(1, -1, 1, 1)
        for t, w in zip(taps, torch.split(first.weight, list(self.split), dim=1), strict=True):
            if self.training and self.dropout:
                t = F.dropout2d(t, self.dropout)
            y = F.conv2d(t, w)
            x = x + (F.interpolate(y, (H, W), mode="bilinear", align_corners=False) if y.shape[-2:] != (H, W) else y)
        for layer in self.layers[1:]:
            x = layer(F.relu(x))
        k, p = self.kernel, len(self.kernel) // 2
        x = F.pad(x, (p, p, p, p), mode="replicate")
        x = F.conv2d(F.conv2d(x, k.view(1, 1, -1, 1)), k.view(1, 1, 1, -1))
        x = x + F.interpolate(self.centre, (H, W), mode="bilinear", align_corners=False)
        return F.log_softmax(x.flatten(1), 1)


def nll(logp: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    return -(logp * counts.flatten(1)).sum() / counts.sum()


def rows_of(images: range | list[int], with_mirror: bool) -> np.ndarray:
    """Rows of a training set's images (image i is row 2i as is, 2i + 1 mirrored)."""
    return np.array([2 * i + f for i in images for f in ((0, 1) if with_mirror else (0,))], np.int64)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbones", default="lite0")
    ap.add_argument("--train", default="nus,osie")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--sigma", type=float, default=1.5)
    ap.add_argument("--hidden", default="32,16")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=1e-3)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--centre", default="12,16")
    ap.add_argument("--test", action="store_true")
    ap.add_argument("--export", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    backbones = args.backbones.split(",")
    sets = {s: Features(backbones, f"{s}_train") for s in ("nus", "osie")}
    fit = {s: rows_of([i for i in range(len(f.names)) if i not in VAL[f"{s}_train"]], True) for s, f in sets.items()}
    val = {s: rows_of(VAL[f"{s}_train"], False) for s in sets}  # originals only
    train_sets = args.train.split(",")
    # Per-channel statistics over the fitted images (a sample of rows), folded into the first layer on export.
    mu, sd = {}, {}
    for i, (name, _) in enumerate(sets[train_sets[0]].taps):
        parts = [sets[s].taps[i][1][np.sort(fit[s][::7])].astype(np.float32) for s in train_sets]
        x = np.concatenate(parts)
        mu[name], sd[name] = x.mean((0, 2, 3)), x.std((0, 2, 3)) + 1e-3
    split = tuple(arr.shape[1] for _, arr in sets["nus"].taps)
    hidden = tuple(int(x) for x in args.hidden.split(",") if x)
    centre = tuple(int(x) for x in args.centre.split(","))
    model = Readout(split, args.sigma, hidden, args.dropout, (centre[0], centre[1]))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.wd)
    val_batches = {s: (sets[s].batch(val[s], mu, sd), sets[s].counts[np.sort(val[s])]) for s in sets}
    best, best_state, t0, history = float("inf"), None, time.time(), []
    rng = np.random.default_rng(0)
    for epoch in range(args.epochs):
        model.train()
        batches = []
        for s in train_sets:
            rows = rng.permutation(fit[s])
            batches += [(s, rows[b : b + 16]) for b in range(0, len(rows), 16)]
        for j in rng.permutation(len(batches)):
            s, rows = batches[j]
            loss = nll(model(sets[s].batch(rows, mu, sd)), sets[s].counts[np.sort(rows)])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            v = {s: nll(model(x), c).item() for s, (x, c) in val_batches.items()}
        score = float(np.mean([v[s] for s in train_sets]))
        history.append(v)
        if score < best:
            best, best_state = score, {k: x.clone() for k, x in model.state_dict().items()}
        print(f"epoch {epoch} val_nll={v} best={best:.4f} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    assert best_state is not None
    model.load_state_dict(best_state)
    model.eval()
    with torch.no_grad():
        val_nll = {s: nll(model(x), c).item() for s, (x, c) in val_batches.items()}
    base = {s: centre_only_nll(fit[s], val[s], sets[s].counts) for s in sets}
    result = {
        "args": vars(args),
        "val_nll": val_nll,
        "centre_only_val_nll": base,
        "gain_nats_per_fixation": {s: base[s] - val_nll[s] for s in sets},
    }
    if args.test:
        result["test"] = test(model, backbones, mu, sd)
    if args.export:
        info = {k: result[k] for k in ("args", "val_nll", "gain_nats_per_fixation")}
        export(model, mu, sd, args.sigma, backbones, info=info)
    print(json.dumps(result))


def centre_only_nll(fit_rows: np.ndarray, val_rows: np.ndarray, counts: torch.Tensor) -> float:
    """The same centre-bias map for every image, fitted to the summed training counts."""
    logits = torch.zeros(1, H * W, requires_grad=True)
    fit_c, val_c = counts[np.sort(fit_rows)].sum(0).flatten()[None], counts[np.sort(val_rows)].sum(0).flatten()[None]
    opt = torch.optim.Adam([logits], lr=5e-2)
    k = torch.from_numpy(gaussian_kernel(2.0))
    for _ in range(300):
        lp = smooth_logsoftmax(logits, k)
        loss = -(lp * fit_c).sum() / fit_c.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(-(smooth_logsoftmax(logits, k) * val_c).sum() / val_c.sum())


def smooth_logsoftmax(logits: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    x = logits.view(1, 1, H, W)
    p = len(k) // 2
    x = F.pad(x, (p, p, p, p), mode="replicate")
    x = F.conv2d(F.conv2d(x, k.view(1, 1, -1, 1)), k.view(1, 1, 1, -1))
    return F.log_softmax(x.flatten(1), 1)


def test(model: Readout, backbones: list[str], mu, sd) -> dict[str, dict[str, list[float]]]:
    out = {}
    for name, protocol in (("nus", nus(DATA / "nus-scene")), ("osie", osie(DATA / "osie"))):
        feats = Features(backbones, f"{name}_test")
        with torch.no_grad():
            logp = model(feats.batch(np.arange(len(feats.names)), mu, sd)).view(-1, H, W).exp().numpy()
        grids = dict(zip(feats.names, logp, strict=True))
        scores = evaluate(protocol, {"ours": lambda n, im, g=grids: upsample_density(g[n], im.size[0], im.size[1])})
        out[name] = {m: [round(x, 4) for x in v] for m, v in summarise(scores)["ours"].items() if m in METRICS}
        print(name, {m: round(v[0], 3) for m, v in out[name].items()}, file=sys.stderr, flush=True)
    return out


def export(model: Readout, mu, sd, sigma: float, backbones: list[str], info: dict) -> None:
    arrays: dict[str, np.ndarray] = {}
    names = [n for n in mu]
    m = np.concatenate([mu[n] for n in names])
    s = np.concatenate([sd[n] for n in names])
    for i, layer in enumerate(model.layers):
        w = layer.weight.detach().numpy().astype(np.float64)
        b = layer.bias.detach().numpy().astype(np.float64)
        if i == 0:
            w2 = w[:, :, 0, 0] / s[None, :]
            b = b - w2 @ m
            w = w2[:, :, None, None]
        arrays[f"readout.{i}.weight"] = w.astype(np.float32)
        arrays[f"readout.{i}.bias"] = b.astype(np.float32)
    arrays["centre_bias"] = model.centre.detach().numpy()[0, 0].astype(np.float32)
    arrays["blur_sigma"] = np.array(sigma, np.float32)
    arrays["taps"] = np.array(names)
    arrays["training_info"] = np.array(json.dumps(info))
    out = WEIGHTS / f"saliency_readout_{'_'.join(backbones)}.npz"
    np.savez_compressed(out, **arrays)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
