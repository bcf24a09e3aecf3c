"""Trains the saliency readout on NUS scene fixations, images 001-400 (the training split).

Reproducible: fixed seed, fixed split (001-350 fit, 351-400 early stopping), deterministic
CPU ops. Needs torch for training only (the product never imports it):

    bash scripts/train_env.sh && .venv-train/bin/python scripts/train_saliency.py

Writes impactlens/models/weights/saliency_readout.npz (about 0.2 MB) and prints the
validation log-likelihood gain per fixation over the centre bias alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impactlens.evaluation.fixations import load_fixations  # noqa: E402
from impactlens.media.image_io import decode_image  # noqa: E402
from impactlens.models.checkpoint import load_state_dict  # noqa: E402
from impactlens.models.converters import mobilenet_v2_to_onnx  # noqa: E402
from impactlens.models.preprocess import saliency_input  # noqa: E402
from impactlens.models.readout import GRID, TAPS, gaussian_kernel  # noqa: E402
from impactlens.models.sources import MOBILENET, package_file  # noqa: E402

OUT = ROOT / "impactlens" / "models" / "weights" / "saliency_readout.npz"
H, W = GRID


def extract(data: Path, names: list[str], fixations: dict[str, np.ndarray]):
    backbone = mobilenet_v2_to_onnx(load_state_dict(package_file(MOBILENET)), {}, H * 8, W * 8)
    sess = ort.InferenceSession(backbone.SerializeToString(), providers=["CPUExecutionProvider"])
    feats = {t: [] for t in TAPS}
    counts = []
    for i, name in enumerate(names):
        img = decode_image(data / "images" / name, 200_000_000)
        for flip in (False, True):
            im = img.image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else img.image
            outs = sess.run(list(TAPS), {"image": saliency_input(im)})
            for t, o in zip(TAPS, outs, strict=True):
                feats[t].append(o[0].astype(np.float16))
            xy = fixations.get(name, np.zeros((0, 2)))
            x = (img.width - 1 - xy[:, 0]) if flip else xy[:, 0]
            gx = np.clip((x + 0.5) / img.width * W, 0, W - 1e-6).astype(int)
            gy = np.clip((xy[:, 1] + 0.5) / img.height * H, 0, H - 1e-6).astype(int)
            c = np.zeros((H, W), np.float32)
            np.add.at(c, (gy, gx), 1.0)
            counts.append(c)
        if i % 50 == 0:
            print(f"features {i}/{len(names)}", file=sys.stderr, flush=True)
    return {t: np.stack(v) for t, v in feats.items()}, np.stack(counts)


class Readout(torch.nn.Module):
    def __init__(
        self,
        channels: int,
        sigma: float,
        hidden: tuple[int, ...] = (16, 16),
        split: tuple[int, ...] = (),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        dims = (channels, *hidden, 1)
        self.layers = torch.nn.ModuleList(torch.nn.Conv2d(a, b, 1) for a, b in zip(dims, dims[1:], strict=False))
        self.split = split or (channels,)
        self.dropout = dropout
        self.centre = torch.nn.Parameter(torch.zeros(1, 1, 12, 16))
        self.register_buffer("kernel", torch.from_numpy(gaussian_kernel(sigma)))

    def forward(self, taps: list[torch.Tensor]) -> torch.Tensor:
        # The first 1x1 convolution commutes with the (linear, per-channel) upsampling, so it
        # runs on each tap at its own resolution: about 10x less work than upsampling first.
        first = self.layers[0]
        weights = torch.split(first.weight, list(self.split), dim=1)
        x = first.bias.view(1, -1, 1, 1)
        for t, w in zip(taps, weights, strict=True):
            if self.training and self.dropout:
                t = F.dropout2d(t, self.dropout)
            y = F.conv2d(t, w)
            if y.shape[-2:] != (H, W):
                y = F.interpolate(y, (H, W), mode="bilinear", align_corners=False)
            x = x + y
        for layer in self.layers[1:]:
            x = layer(F.relu(x))
        k = self.kernel
        p = len(k) // 2
        x = F.pad(x, (p, p, p, p), mode="replicate")
        x = F.conv2d(x, k.view(1, 1, -1, 1))
        x = F.conv2d(x, k.view(1, 1, 1, -1))
        x = x + F.interpolate(self.centre, (H, W), mode="bilinear", align_corners=False)
        return F.log_softmax(x.flatten(1), 1)


def nll(logp: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    return -(logp * counts.flatten(1)).sum() / counts.sum()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "nus-scene")
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--sigma", type=float, default=1.5)
    ap.add_argument("--hidden", default="32,16")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=1e-3)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache" / "saliency_features.npz")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    names = [f"{i:03d}.jpg" for i in range(1, 401)]
    if args.cache.exists():
        z = np.load(args.cache)
        feats, counts = {t: z[t] for t in TAPS}, z["counts"]
    else:
        feats, counts = extract(args.data, names, load_fixations(args.data / "fixations.csv"))
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.cache, counts=counts, **feats)
    # Per-channel standardisation, folded into the first layer when exporting.
    mu = {t: feats[t].astype(np.float32).mean((0, 2, 3)) for t in TAPS}
    sd = {t: feats[t].astype(np.float32).std((0, 2, 3)) + 1e-3 for t in TAPS}
    tens = {
        t: torch.from_numpy((feats[t].astype(np.float32) - mu[t][:, None, None]) / sd[t][:, None, None]) for t in TAPS
    }
    cnt = torch.from_numpy(counts)
    n_fit = 350 * 2  # two entries per image (original, mirrored)
    fit, val = torch.arange(n_fit), torch.arange(n_fit, len(cnt), 2)  # validate on originals only
    split = tuple(tens[t].shape[1] for t in TAPS)
    hidden = tuple(int(x) for x in args.hidden.split(",") if x)
    model = Readout(sum(split), args.sigma, hidden=hidden, split=split, dropout=args.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.wd)
    centre_only = Readout(1, args.sigma, hidden=())  # baseline: learned centre bias alone
    best, best_state, t0 = float("inf"), None, time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = fit[torch.randperm(len(fit))]
        for b in range(0, len(perm), 16):
            idx = perm[b : b + 16]
            loss = nll(model([tens[t][idx] for t in TAPS]), cnt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            v = nll(model([tens[t][val] for t in TAPS]), cnt[val]).item()
        if v < best:
            best, best_state = v, {k: x.clone() for k, x in model.state_dict().items()}
        print(f"epoch {epoch} val_nll={v:.4f} best={best:.4f} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    # The centre-only model predicts the same map for every image, so its loss over a set
    # equals the loss on the set's summed fixation counts: fit it on one aggregated map.
    copt = torch.optim.Adam([centre_only.centre], lr=5e-2)
    zero = [torch.zeros(1, 1, H, W)]
    fit_counts, val_counts = cnt[fit].sum(0, keepdim=True), cnt[val].sum(0, keepdim=True)
    for _ in range(300):
        loss = nll(centre_only(zero), fit_counts)
        copt.zero_grad()
        loss.backward()
        copt.step()
    with torch.no_grad():
        base = nll(centre_only(zero), val_counts).item()
    assert best_state is not None
    model.load_state_dict(best_state)
    if not args.no_export:
        export(model, mu, sd, args.sigma, info={"val_nll": best, "centre_only_val_nll": base})
    print(
        json.dumps(
            {
                "args": vars(args) | {"data": "", "cache": ""},
                "val_nll": best,
                "centre_only_val_nll": base,
                "gain_nats_per_fixation": base - best,
            }
        )
    )


def export(model: Readout, mu, sd, sigma: float, info: dict) -> None:
    arrays: dict[str, np.ndarray] = {}
    m = np.concatenate([mu[t] for t in TAPS])
    s = np.concatenate([sd[t] for t in TAPS])
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
    arrays["training_info"] = np.array(json.dumps(info))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)


if __name__ == "__main__":
    main()
