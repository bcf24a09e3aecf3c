"""The converted models against the reference implementation's recorded outputs."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.stats import spearmanr

from impactlens.models.checkpoint import CheckpointError, load_state_dict
from impactlens.models.registry import SPECS, read_manifest, sha256_file
from impactlens.models.sources import MOBILENET, RESMEM, package_file
from impactlens.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "resmem_reference.json").read_text())


def _scores(engine):
    ours, ref = [], []
    for rel, score in FIXTURE["scores"].items():
        ours.append(engine.memorability.predict(Image.open(ROOT / rel))[0])
        ref.append(score)
    return np.array(ours), np.array(ref)


def test_fp32_onnx_matches_the_reference_resmem_within_1e_3(engine_fp32):
    ours, ref = _scores(engine_fp32)
    assert len(ref) == 20
    assert np.abs(ours - ref).max() <= 1e-3


def test_int8_keeps_the_reference_ranking(engine):
    ours, ref = _scores(engine)
    assert spearmanr(ours, ref).statistic >= 0.95
    assert np.abs(ours - ref).max() <= 0.08


def test_manifest_hashes_match_the_files_on_disk():
    model_dir = get_settings().model_dir
    manifest = read_manifest(model_dir)
    for spec in SPECS.values():
        assert manifest[spec.filename]["sha256"] == sha256_file(model_dir / spec.filename)


def test_checkpoint_reader_reads_both_torch_formats_without_torch():
    legacy = load_state_dict(package_file(MOBILENET))  # pre-1.6 pickle format
    assert legacy["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert legacy["classifier.1.weight"].dtype == np.float32
    zipped = load_state_dict(package_file(RESMEM))  # zip format
    assert zipped["fc6.weight"].shape == (4096, 10216)
    assert zipped["features.layer3.35.conv3.weight"].shape == (1024, 256, 1, 1)


def test_checkpoint_reader_refuses_arbitrary_pickles(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    path.write_bytes(
        pickle.dumps(0x1950A86A20F9469CFC6C) + pickle.dumps(1001) + pickle.dumps({}) + pickle.dumps(Evil())
    )
    with pytest.raises(CheckpointError):
        load_state_dict(path)


def test_int8_graph_keeps_exactly_the_stem_in_fp32_with_relus_folded():
    import onnx

    from impactlens.models.registry import SPECS

    model = onnx.load(str(get_settings().model_dir / SPECS["resmem:int8"].filename))
    producers = {o: n for n in model.graph.node for o in n.output}

    def quantised(conv):
        return conv.input[1] in producers and producers[conv.input[1]].op_type == "DequantizeLinear"

    fp32_convs = {n.name.rsplit("_", 1)[0] for n in model.graph.node if n.op_type == "Conv" and not quantised(n)}
    assert fp32_convs == {"features.conv1"}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert any(n.name.startswith("features.layer1.0.") and quantised(n) for n in convs)
    # A Relu after a quantised Conv is folded into the Conv's output range, not left as
    # Conv -> Q -> DQ -> Relu -> Q (a requantisation before every next Conv).
    for relu in (n for n in model.graph.node if n.op_type == "Relu"):
        before = producers.get(relu.input[0])
        while before is not None and before.op_type in ("QuantizeLinear", "DequantizeLinear"):
            before = producers.get(before.input[0])
        assert before is None or before.op_type != "Conv" or not quantised(before), relu.name
    assert sum(1 for n in model.graph.node if n.op_type == "DynamicQuantizeLinear") >= 6  # the MLP head


@pytest.mark.parametrize("signed", [False, True])
def test_streamed_percentile_ranges_match_onnxruntime_all_at_once(signed):
    from onnxruntime.quantization.calibrate import HistogramCollector

    from impactlens.models.calibration import AbsHistogram

    rng = np.random.default_rng(7)
    # Later batches reach further than the first, so the streamed histogram has to grow.
    batches = [rng.standard_normal((2, 8, 16, 16)).astype(np.float32) * (1 + i) for i in range(4)]
    if not signed:
        batches = [np.maximum(b, 0) for b in batches]
    ort = HistogramCollector("percentile", True, 2048, 128, 99.9, "same")
    ort.collect({"t": batches})
    ort_lo, ort_hi = (float(v) for v in ort.compute_percentile()["t"][:2])
    hist = AbsHistogram(2048)
    for b in batches:
        hist.add(b)
    lo, hi = hist.symmetric_range(99.9)
    ort_bin = float(np.abs(np.concatenate([b.ravel() for b in batches])).max()) / 2048
    assert abs(hi - ort_hi) <= 2 * ort_bin
    assert abs(lo - ort_lo) <= 2 * ort_bin
    assert (lo < 0) if signed else (lo == 0.0)


def test_streamed_histogram_refuses_non_finite_activations():
    from impactlens.models.calibration import AbsHistogram

    with pytest.raises(ValueError, match="non-finite"):
        AbsHistogram(16).add(np.array([1.0, np.nan, 2.0], np.float32))


def _saliency_pair():
    from impactlens.models.runtime import load_saliency

    s = get_settings()
    fp32 = load_saliency(s.saliency_model, "fp32", s.model_dir, 1)
    int8 = load_saliency(s.saliency_model, "int8", s.model_dir, 1)
    return fp32, int8


@pytest.mark.parametrize("crop", [None, (60, 0, 420, 600)])  # the photograph, and a 3:5 portrait of it
def test_int8_saliency_map_agrees_with_fp32_on_a_held_out_photograph(crop):
    fp32, int8 = _saliency_pair()
    assert int8.spec.variant == "int8" and int8.spec.filename != fp32.spec.filename
    photo = Image.open(ROOT / "impactlens" / "data" / "samples" / "nus-437.jpg").convert("RGB")
    if crop:
        photo = photo.crop(crop)
    a, b = fp32.predict(photo)[0], int8.predict(photo)[0]
    assert a.shape == b.shape and abs(b.sum() - 1.0) < 1e-4
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] >= 0.98
    # The strongest cell stays where the fp32 map puts one of its strongest.
    assert a.ravel()[b.argmax()] >= 0.8 * a.max()


def test_int8_saliency_graph_quantises_the_backbone_and_keeps_the_readout_fp32():
    import onnx

    _, int8 = _saliency_pair()
    model = onnx.load(str(get_settings().model_dir / int8.spec.filename))
    producers = {o: n for n in model.graph.node for o in n.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]

    def quantised(conv):
        return conv.input[1] in producers and producers[conv.input[1]].op_type == "DequantizeLinear"

    readout = [n for n in convs if n.name.startswith("readout/")]
    backbone = [n for n in convs if not n.name.startswith("readout/")]
    assert readout and not any(quantised(n) for n in readout)
    assert backbone and all(quantised(n) for n in backbone)
