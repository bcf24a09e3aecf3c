"""Trains the saliency readout on NUS 001-400 + OSIE 1001-1600; scores NUS 401-500 and OSIE 1601-1700.

Reproducible: fixed seed, fixed splits, deterministic CPU ops. Needs torch for training only
(the product never imports it). Features come from scripts/saliency_features.py (cached, each
image at its own aspect ratio, as the product feeds it):

    .venv-train/bin/python scripts/saliency_features.py --backbone lite0
    .venv-train/bin/python scripts/train_saliency.py --backbones lite0 --context 16 --export

Early stopping on NUS 351-400 + OSIE 1541-1600 (validation log-likelihood); the fit uses the
rest of the training split, each image as is and mirrored. The run also prints the benchmark
metrics on those validation images, the figures every design choice was made on. ``--train
nus`` or ``--train osie`` fits on one set only (cross-dataset figures); ``--test`` scores the
held-out splits with the benchmark protocols (impactlens/evaluation/protocol.py) from the
cached test features. ``--export`` writes impactlens/models/weights/saliency_readout_<backbones>.npz.
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
sys.path.insert(0, str(ROOT / "scripts"))

from saliency_data import Group, Projection, load_groups, projected  # noqa: E402

from impactlens.evaluation.protocol import METRICS, evaluate, nus, osie, summarise  # noqa: E402
from impactlens.media.heatmap import upsample_density  # noqa: E402
from impactlens.models.readout import TAPS, gaussian_kernel  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
WEIGHTS = ROOT / "impactlens" / "models" / "weights"
CENTRE_CELLS = (12, 16)  # the learned centre-bias map, resized to each image's grid
__all__ = ["Projection"]  # the projection cache pickles it


class Readout(torch.nn.Module):
    """1x1 convolutions on the taps, optional k x k context convolutions, blur, centre bias."""

    def __init__(
        self,
        split: tuple[int, ...],
        sigma: float,
        hidden: tuple[int, ...],
        dropout: float,
        context: tuple[int, ...] = (),
        dilation: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        self.context = torch.nn.ModuleList()
        c = hidden[0]
        for co, d in zip(context, dilation, strict=True):
            self.context.append(torch.nn.Conv2d(c, co, 3, padding=d, dilation=d, padding_mode="replicate"))
            c = co
        dims = (c, *hidden[1:], 1)
        later = (torch.nn.Conv2d(a, b, 1) for a, b in zip(dims, dims[1:], strict=False))
        self.layers = torch.nn.ModuleList([torch.nn.Conv2d(sum(split), hidden[0], 1), *later])
        self.split, self.dropout, self.dilation = split, dropout, dilation
        self.centre = torch.nn.Parameter(torch.zeros(1, 1, *CENTRE_CELLS))
        self.register_buffer("kernel", torch.from_numpy(gaussian_kernel(sigma)))

    def forward(self, taps: list[torch.Tensor], grid: tuple[int, int]) -> torch.Tensor:
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
        for size, y in by_size.items():
            x = x + (y if size == grid else upsample(y, grid))
        for conv in self.context:
            x = conv(F.relu(x))
        for layer in self.layers[1:]:
            x = layer(F.relu(x))
        k, p = self.kernel, len(self.kernel) // 2
        x = F.pad(x, (p, p, p, p), mode="replicate")
        x = F.conv2d(F.conv2d(x, k.view(1, 1, -1, 1)), k.view(1, 1, 1, -1))
        x = x + F.interpolate(self.centre, grid, mode="bilinear", align_corners=False)
        return F.log_softmax(x.flatten(1), 1)


def _bilinear_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in): the half-pixel bilinear resize as a matrix (ONNX Resize "linear")."""
    eye = torch.eye(n_in).view(n_in, 1, n_in)
    return F.interpolate(eye, n_out, mode="linear", align_corners=False)[:, 0].T.contiguous()


_UP: dict[tuple[int, int, int, int], tuple[torch.Tensor, torch.Tensor]] = {}


def upsample(y: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize to the grid as two small matrix products (far faster than interpolate on CPU)."""
    key = (int(y.shape[-2]), int(y.shape[-1]), *grid)
    if key not in _UP:
        _UP[key] = (_bilinear_matrix(key[0], grid[0]), _bilinear_matrix(key[1], grid[1]))
    uh, uw = _UP[key]
    return uh @ (y @ uw.T)


def nll(logp: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    return -(logp * counts.flatten(1)).sum() / counts.sum()


def rows_to(tensors: list[torch.Tensor], rows: np.ndarray) -> list[torch.Tensor]:
    idx = torch.from_numpy(np.sort(rows))
    return [t[idx].float() for t in tensors]


class Data:
    """Every group of the training and test sets, projected; batches never mix grid sizes."""

    def __init__(self, backbones: list[str], train_sets: list[str], components: dict[str, int]) -> None:
        self.groups = {s: load_groups(backbones, s) for s in ("nus_train", "osie_train", "nus_test", "osie_test")}
        train = [g for s in train_sets for g in self.groups[f"{s}_train"]]
        every = [g for gs in self.groups.values() for g in gs]
        self.proj, self.tens = projected(backbones, train, every, components)

    def x(self, g: Group, rows: np.ndarray) -> list[torch.Tensor]:
        return rows_to(self.tens[(g.set_name, g.size)], rows)

    def val_nll(self, model: torch.nn.Module, set_name: str) -> float:
        """Nats per validation fixation, relative to a uniform map (so grids of any size compare)."""
        total = count = 0.0
        with torch.no_grad():
            for g in self.groups[set_name]:
                if len(g.val):
                    c = g.counts[np.sort(g.val)]
                    per = float(nll(model(self.x(g, g.val), g.grid), c)) - np.log(g.grid[0] * g.grid[1])
                    total += per * float(c.sum())
                    count += float(c.sum())
        return total / count

    def densities(self, model: torch.nn.Module, set_name: str, names: set[str]) -> dict[str, np.ndarray]:
        """Predicted fixation densities (grid, summing to 1) of a set's originals with these names."""
        out = {}
        with torch.no_grad():
            for g in self.groups[set_name]:
                rows = g.rows(names, both_copies=False)
                if len(rows):
                    d = model(self.x(g, rows), g.grid).view(-1, *g.grid).exp().numpy()
                    out.update(zip((g.names[r // (2 if g.mirrored else 1)] for r in np.sort(rows)), d, strict=True))
        return out


def scores(model: torch.nn.Module, data: Data, split: str) -> dict[str, dict[str, list[float]]]:
    """Benchmark metrics (mean and bootstrap interval) on the validation or the held-out test images."""
    out = {}
    for name in ("nus", "osie"):
        first, last = (351, 400) if name == "nus" else (1541, 1600)
        maker = nus if name == "nus" else osie
        protocol = maker(DATA / ("nus-scene" if name == "nus" else "osie"), *(() if split == "test" else (first, last)))
        grids = data.densities(model, f"{name}_{'test' if split == 'test' else 'train'}", set(protocol.images))
        fn = {"ours": lambda n, im, g=grids: upsample_density(g[n], im.size[0], im.size[1])}
        summary = summarise(evaluate(protocol, fn))["ours"]
        out[name] = {m: [round(x, 4) for x in v] for m, v in summary.items() if m in METRICS}
        print(split, name, {m: round(v[0], 3) for m, v in out[name].items()}, file=sys.stderr, flush=True)
    return out


class Ensemble(torch.nn.Module):
    """Readouts trained from different seeds; the density is the mean of theirs."""

    def __init__(self, members: list[Readout]) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def forward(self, taps: list[torch.Tensor], grid: tuple[int, int]) -> torch.Tensor:
        logps = torch.stack([m(taps, grid) for m in self.members])
        return torch.logsumexp(logps, 0) - np.log(len(self.members))


def train(
    model: Readout,
    data: Data,
    train_sets: list[str],
    epochs: int,
    lr: float,
    wd: float,
    seed: int = 0,
    cosine: bool = False,
) -> list[dict]:
    """Adam on batches of 16 rows of one group; keeps the epoch with the best validation NLL."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs) if cosine else None
    best, best_state, t0, history = float("inf"), None, time.time(), []
    rng = np.random.default_rng(seed)
    groups = [g for s in train_sets for g in data.groups[f"{s}_train"]]
    for epoch in range(epochs):
        model.train()
        batches = []
        for g in groups:
            rows = rng.permutation(g.fit)
            batches += [(g, rows[b : b + 16]) for b in range(0, len(rows), 16)]
        for j in rng.permutation(len(batches)):
            g, rows = batches[j]
            loss = nll(model(data.x(g, rows), g.grid), g.counts[np.sort(rows)])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if sched is not None:
            sched.step()
        model.eval()
        v = {s: data.val_nll(model, f"{s}_train") for s in ("nus", "osie")}
        score = float(np.mean([v[s] for s in train_sets]))
        history.append(v)
        if score < best:
            best, best_state = score, {k: x.clone() for k, x in model.state_dict().items()}
        print(f"epoch {epoch} val_nll={v} best={best:.4f} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    assert best_state is not None
    model.load_state_dict(best_state)
    model.eval()
    return history


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbones", default="lite0")
    ap.add_argument("--train", default="nus,osie")
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--sigma", type=float, default=1.5)
    ap.add_argument("--hidden", default="32,16")
    ap.add_argument("--context", default="", help="channels of 3x3 context convolutions after the first layer")
    ap.add_argument("--dilation", default="", help="their dilations (default 1 each)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=1e-3)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--components", default="48,96,128,256", help="principal components kept per tap (f8,f16,f32,head)")
    ap.add_argument("--extra-components", default="", help="name=k,... for other taps (e.g. l3=128); default all")
    ap.add_argument("--seeds", default="0", help="one readout per seed; more than one: their mean density")
    ap.add_argument("--cosine", action="store_true", help="cosine learning-rate decay over the epochs")
    ap.add_argument("--test", action="store_true")
    ap.add_argument("--export", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # the machine is shared: spinning OpenMP workers only burn CPU
    torch.use_deterministic_algorithms(True)
    backbones, train_sets = args.backbones.split(","), args.train.split(",")
    components = dict(zip(TAPS, (int(x) for x in args.components.split(",")), strict=True))
    components.update({k: int(v) for k, v in (x.split("=") for x in args.extra_components.split(",") if x)})
    data = Data(backbones, train_sets, components)
    split = tuple(t.shape[1] for t in next(iter(data.tens.values())))
    context = tuple(int(x) for x in args.context.split(",") if x)
    dilation = tuple(int(x) for x in args.dilation.split(",") if x) or (1,) * len(context)
    hidden = tuple(int(x) for x in args.hidden.split(",") if x)
    members = []
    for seed in (int(x) for x in args.seeds.split(",")):
        torch.manual_seed(seed)
        member = Readout(split, args.sigma, hidden, args.dropout, context, dilation)
        train(member, data, train_sets, args.epochs, args.lr, args.wd, seed, args.cosine)
        members.append(member)
        if len(members) > 1:
            print(
                f"seed {seed}: {len(members)} members",
                {s: round(data.val_nll(Ensemble(members), f"{s}_train"), 4) for s in ("nus", "osie")},
                file=sys.stderr,
                flush=True,
            )
    model: torch.nn.Module = members[0] if len(members) == 1 else Ensemble(members)
    val_nll = {s: data.val_nll(model, f"{s}_train") for s in ("nus", "osie")}
    base = {s: centre_only_nll(data.groups[f"{s}_train"]) for s in ("nus", "osie")}
    result = {
        "args": vars(args),
        "val_nll": val_nll,
        "centre_only_val_nll": base,
        "gain_nats_per_fixation": {s: base[s] - val_nll[s] for s in base},
        "validation": scores(model, data, "validation"),
    }
    if args.test:
        result["test"] = scores(model, data, "test")
    if args.export:
        if not isinstance(model, Readout):
            raise SystemExit("--export writes one readout: give one seed")
        info = {k: result[k] for k in ("args", "val_nll", "gain_nats_per_fixation", "validation")}
        info["explained_variance"] = data.proj.explained
        export(model, data.proj, args.sigma, backbones, info=info)
    print(json.dumps(result))


def centre_only_nll(groups: list[Group]) -> float:
    """The same centre-bias map for every image (fitted to the training counts, resized per grid)."""
    logits = torch.zeros(1, 1, *CENTRE_CELLS, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=5e-2)
    k = torch.from_numpy(gaussian_kernel(1.0))

    def loss(rows_of: str) -> torch.Tensor:
        total, n = torch.zeros(()), 0.0
        for g in groups:
            rows = getattr(g, rows_of)
            if len(rows):
                c = g.counts[np.sort(rows)].sum(0, keepdim=True)
                lp = smooth_logsoftmax(F.interpolate(logits, g.grid, mode="bilinear", align_corners=False), k)
                total = total - (lp * c.flatten(1)).sum() - np.log(g.grid[0] * g.grid[1]) * c.sum()
                n += float(c.sum())
        return total / n

    for _ in range(200):
        value = loss("fit")
        opt.zero_grad()
        value.backward()
        opt.step()
    with torch.no_grad():
        return float(loss("val"))


def smooth_logsoftmax(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    p = len(k) // 2
    x = F.pad(x, (p, p, p, p), mode="replicate")
    x = F.conv2d(F.conv2d(x, k.view(1, 1, -1, 1)), k.view(1, 1, 1, -1))
    return F.log_softmax(x.flatten(1), 1)


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
    for j, conv in enumerate(model.context):
        arrays[f"context.{j}.weight"] = conv.weight.detach().numpy().astype(np.float32)
        arrays[f"context.{j}.bias"] = conv.bias.detach().numpy().astype(np.float32)
    if model.context:
        arrays["context_dilation"] = np.array(model.dilation, np.int64)
    arrays["centre_bias"] = model.centre.detach().numpy()[0, 0].astype(np.float32)
    arrays["blur_sigma"] = np.array(sigma, np.float32)
    arrays["taps"] = np.array(names)
    arrays["training_info"] = np.array(json.dumps(info))
    out = WEIGHTS / f"saliency_readout_{'_'.join(backbones)}.npz"
    np.savez_compressed(out, **arrays)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
