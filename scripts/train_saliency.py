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
from impactlens.models.readout import GRID, TAPS, gaussian_kernel  # noqa: E402

CACHE = ROOT / ".cache" / "saliency"
DATA = ROOT.parent / "shared" / "data"
WEIGHTS = ROOT / "impactlens" / "models" / "weights"
H, W = GRID
VAL = {"nus_train": range(350, 400), "osie_train": range(540, 600)}  # image indices in each set


class Features:
    """Memory-mapped cached taps of several backbones for one set."""

    def __init__(self, backbones: list[str], set_name: str) -> None:
        self.taps: list[tuple[str, np.ndarray]] = []
        for bb in backbones:
            info = json.loads((CACHE / bb / f"{set_name}.names.json").read_text())
            for t in info["taps"]:
                self.taps.append((f"{bb}:{t}", np.load(CACHE / bb / f"{set_name}.{t}.npy", mmap_mode="r")))
        self.names: list[str] = info["names"]
        self.mirrored: bool = info["mirrored"]
        self.counts = torch.from_numpy(np.load(CACHE / backbones[0] / f"{set_name}.counts.npy"))


class Projection:
    """Per tap: channel standardisation, then the top principal components of the channels.

    The readout's first layer is linear in the features, so training it on k principal
    components and exporting W @ P.T / sd (bias shifted by the mean) is exact. Keeping the
    leading components (Lite0 with 48/96/128/256: 100/96/77/57% of the standardised variance)
    restricts the readout to the features' main directions, a regulariser, and makes the
    training set small enough to hold in memory (~0.5 GB), so an epoch costs seconds of CPU.
    """

    def __init__(self, sets: list[tuple[Features, np.ndarray]], components: dict[str, int]) -> None:
        self.mu: dict[str, np.ndarray] = {}
        self.sd: dict[str, np.ndarray] = {}
        self.basis: dict[str, np.ndarray] = {}
        self.explained: dict[str, float] = {}
        for i, (name, _) in enumerate(sets[0][0].taps):
            x = np.concatenate([f.taps[i][1][np.sort(rows[::7])].astype(np.float32) for f, rows in sets])
            x = x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])
            mu, sd = x.mean(0), x.std(0) + 1e-3
            z = (x - mu) / sd
            cov = z.T @ z / len(z)
            vals, vecs = np.linalg.eigh(cov.astype(np.float64))
            k = min(components.get(name.split(":")[1], len(vals)), len(vals))
            order = np.argsort(vals)[::-1][:k]
            self.mu[name], self.sd[name], self.basis[name] = mu, sd, vecs[:, order].astype(np.float32)
            self.explained[name] = float(vals[order].sum() / vals.sum())

    def apply(self, feats: Features) -> list[torch.Tensor]:
        out = []
        for name, arr in feats.taps:
            p = np.empty((len(arr), self.basis[name].shape[1], *arr.shape[2:]), np.float16)
            for b in range(0, len(arr), 32):
                x = (arr[b : b + 32].astype(np.float32) - self.mu[name][:, None, None]) / self.sd[name][:, None, None]
                p[b : b + 32] = np.einsum("nchw,ck->nkhw", x, self.basis[name])
            out.append(torch.from_numpy(p))
        return out


def rows_to(tensors: list[torch.Tensor], rows: np.ndarray) -> list[torch.Tensor]:
    idx = torch.from_numpy(np.sort(rows))
    return [t[idx].float() for t in tensors]


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
        # runs on each tap at its own resolution, contributions of one resolution are summed,
        # and only the sums are upsampled: about 10x less work than upsampling the features.
        first = self.layers[0]
        by_size: dict[tuple[int, int], torch.Tensor] = {}
        for t, w in zip(taps, torch.split(first.weight, list(self.split), dim=1), strict=True):
            if self.training and self.dropout:
                t = F.dropout2d(t, self.dropout)
            y = F.conv2d(t, w)
            key = (int(y.shape[-2]), int(y.shape[-1]))
            by_size[key] = by_size[key] + y if key in by_size else y
        x = first.bias.view(1, -1, 1, 1)
        for (h, w), y in by_size.items():
            x = x + (y if (h, w) == (H, W) else upsample(y))
        for layer in self.layers[1:]:
            x = layer(F.relu(x))
        k, p = self.kernel, len(self.kernel) // 2
        x = F.pad(x, (p, p, p, p), mode="replicate")
        x = F.conv2d(F.conv2d(x, k.view(1, 1, -1, 1)), k.view(1, 1, 1, -1))
        x = x + F.interpolate(self.centre, (H, W), mode="bilinear", align_corners=False)
        return F.log_softmax(x.flatten(1), 1)


def _bilinear_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in): the half-pixel bilinear resize as a matrix (ONNX Resize "linear")."""
    eye = torch.eye(n_in).view(n_in, 1, n_in)
    return F.interpolate(eye, n_out, mode="linear", align_corners=False)[:, 0].T.contiguous()


_UP: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}


def upsample(y: torch.Tensor) -> torch.Tensor:
    """Bilinear resize to the grid as two small matrix products (far faster than interpolate on CPU)."""
    h, w = int(y.shape[-2]), int(y.shape[-1])
    if (h, w) not in _UP:
        _UP[(h, w)] = (_bilinear_matrix(h, H), _bilinear_matrix(w, W))
    uh, uw = _UP[(h, w)]
    return uh @ (y @ uw.T)


def nll(logp: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    return -(logp * counts.flatten(1)).sum() / counts.sum()


def rows_of(images: range | list[int], with_mirror: bool) -> np.ndarray:
    """Rows of a training set's images (image i is row 2i as is, 2i + 1 mirrored)."""
    return np.array([2 * i + f for i in images for f in ((0, 1) if with_mirror else (0,))], np.int64)


def projected(
    backbones: list[str], train_sets: list[str], components: dict[str, int], sets: dict[str, Features], fit: dict
) -> tuple[Projection, dict[str, list[torch.Tensor]]]:
    """The projection fitted on the training sets' fit rows, and every set projected (cached)."""
    key = f"{'+'.join(backbones)}_{'+'.join(train_sets)}_{'-'.join(str(v) for v in components.values())}"
    path = CACHE / "projected" / f"{key}.pt"
    if path.exists():
        proj, tens = torch.load(path, weights_only=False)
        return proj, tens
    t = time.time()
    proj = Projection([(sets[s], fit[s]) for s in train_sets], components)
    print(f"projection fitted ({time.time() - t:.0f}s): explained {proj.explained}", file=sys.stderr, flush=True)
    tens = {f"{s}_train": proj.apply(f) for s, f in sets.items()}
    for s in ("nus", "osie"):
        tens[f"{s}_test"] = proj.apply(Features(backbones, f"{s}_test"))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save((proj, tens), path)
    print(f"projected every set ({time.time() - t:.0f}s)", file=sys.stderr, flush=True)
    return proj, tens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbones", default="lite0")
    ap.add_argument("--train", default="nus,osie")
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--sigma", type=float, default=1.5)
    ap.add_argument("--hidden", default="32,16")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=1e-3)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--centre", default="12,16")
    ap.add_argument("--components", default="48,96,128,256", help="principal components kept per tap (f8,f16,f32,head)")
    ap.add_argument("--test", action="store_true")
    ap.add_argument("--export", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # the machine is shared: spinning OpenMP workers only burn CPU
    torch.use_deterministic_algorithms(True)
    backbones = args.backbones.split(",")
    sets = {s: Features(backbones, f"{s}_train") for s in ("nus", "osie")}
    fit = {s: rows_of([i for i in range(len(f.names)) if i not in VAL[f"{s}_train"]], True) for s, f in sets.items()}
    val = {s: rows_of(VAL[f"{s}_train"], False) for s in sets}  # originals only
    train_sets = args.train.split(",")
    components = dict(zip(TAPS, (int(x) for x in args.components.split(",")), strict=True))
    proj, tens = projected(backbones, train_sets, components, sets, fit)
    split = tuple(t.shape[1] for t in tens["nus_train"])
    hidden = tuple(int(x) for x in args.hidden.split(",") if x)
    centre = tuple(int(x) for x in args.centre.split(","))
    model = Readout(split, args.sigma, hidden, args.dropout, (centre[0], centre[1]))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.wd)
    val_batches = {s: (rows_to(tens[f"{s}_train"], val[s]), sets[s].counts[np.sort(val[s])]) for s in sets}
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
            loss = nll(model(rows_to(tens[f"{s}_train"], rows)), sets[s].counts[np.sort(rows)])
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
        result["test"] = test(model, {s: tens[f"{s}_test"] for s in ("nus", "osie")}, backbones)
    if args.export:
        info = {k: result[k] for k in ("args", "val_nll", "gain_nats_per_fixation")}
        info["explained_variance"] = proj.explained
        export(model, proj, args.sigma, backbones, info=info)
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


def test(
    model: Readout, tens: dict[str, list[torch.Tensor]], backbones: list[str]
) -> dict[str, dict[str, list[float]]]:
    out = {}
    for name, protocol in (("nus", nus(DATA / "nus-scene")), ("osie", osie(DATA / "osie"))):
        feats = Features(backbones, f"{name}_test")
        with torch.no_grad():
            logp = model(rows_to(tens[name], np.arange(len(feats.names)))).view(-1, H, W).exp().numpy()
        grids = dict(zip(feats.names, logp, strict=True))
        scores = evaluate(protocol, {"ours": lambda n, im, g=grids: upsample_density(g[n], im.size[0], im.size[1])})
        out[name] = {m: [round(x, 4) for x in v] for m, v in summarise(scores)["ours"].items() if m in METRICS}
        print(name, {m: round(v[0], 3) for m, v in out[name].items()}, file=sys.stderr, flush=True)
    return out


def export(model: Readout, proj: Projection, sigma: float, backbones: list[str], info: dict) -> None:
    arrays: dict[str, np.ndarray] = {}
    names = list(proj.mu)
    m = np.concatenate([proj.mu[n] for n in names]).astype(np.float64)
    s = np.concatenate([proj.sd[n] for n in names]).astype(np.float64)
    # First layer on principal components -> on standardised channels -> on raw channels.
    basis = np.zeros((len(m), sum(proj.basis[n].shape[1] for n in names)))
    r = c = 0
    for n in names:
        b = proj.basis[n]
        basis[r : r + b.shape[0], c : c + b.shape[1]] = b
        r, c = r + b.shape[0], c + b.shape[1]
    for i, layer in enumerate(model.layers):
        w = layer.weight.detach().numpy().astype(np.float64)
        b = layer.bias.detach().numpy().astype(np.float64)
        if i == 0:
            w2 = (w[:, :, 0, 0] @ basis.T) / s[None, :]
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
