"""Scoring protocols and bootstrap intervals used by bench/saliency_eval.py and the training script."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from impactlens.evaluation.baselines import centre_bias
from impactlens.evaluation.fixations import load_fixations
from impactlens.evaluation.protocol import bootstrap, evaluate, nus, osie, summarise

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_more_images() -> None:
    rng = np.random.default_rng(3)
    small = rng.normal(0.8, 0.1, 20)
    large = rng.normal(0.8, 0.1, 500)
    m, lo, hi = bootstrap(small)
    assert lo < m < hi and m == pytest.approx(small.mean())
    m2, lo2, hi2 = bootstrap(large)
    assert (hi2 - lo2) < (hi - lo) / 3  # ~ 1/sqrt(n): sqrt(500/20) = 5
    # A 95% interval of the mean is about +-1.96 standard errors.
    assert (hi2 - lo2) / 2 == pytest.approx(1.96 * large.std() / np.sqrt(large.size), rel=0.15)


def test_bootstrap_ignores_undefined_values_and_is_degenerate_for_constants() -> None:
    assert bootstrap([0.5, 0.5, float("nan"), 0.5]) == (0.5, 0.5, 0.5)
    assert all(np.isnan(bootstrap([float("nan")])))


def test_fixation_tables_shift_one_based_coordinates_only(tmp_path: Path) -> None:
    csv = tmp_path / "f.csv"
    csv.write_text("image,subject,x,y\na.jpg,1,1,1\na.jpg,2,10.5,3\n")
    np.testing.assert_allclose(load_fixations(csv)["a.jpg"], [[0, 0], [9.5, 2]])
    np.testing.assert_allclose(load_fixations(csv, one_based=False)["a.jpg"], [[1, 1], [10.5, 3]])


@pytest.mark.skipif(not (DATA / "osie").exists(), reason="needs ../shared/data/osie")
def test_osie_protocol_reproduces_the_published_centre_bias_scores() -> None:
    # OSIE's README: the sigma = 0.25 centre bias scores AUC-Judd 0.728, sAUC 0.506, NSS 0.78,
    # CC 0.29 on 1601-1700. Getting these right checks the resize, pixel convention and blur.
    s = summarise(evaluate(osie(DATA / "osie"), {"centre": lambda n, im: centre_bias(im.size[1], im.size[0])}))
    c = s["centre"]
    assert c["auc_judd"][0] == pytest.approx(0.728, abs=0.002)
    assert c["sauc"][0] == pytest.approx(0.506, abs=0.01)
    assert c["nss"][0] == pytest.approx(0.78, abs=0.01)
    assert c["cc"][0] == pytest.approx(0.29, abs=0.005)
    assert c["auc_judd"][1] < 0.728 < c["auc_judd"][2]


@pytest.mark.skipif(not (DATA / "nus-scene").exists(), reason="needs ../shared/data/nus-scene")
def test_nus_protocol_scores_maps_at_the_capped_image_size_and_ranks_a_fixation_map_first() -> None:
    protocol = nus(DATA / "nus-scene")
    fix = protocol.load()
    seen = []

    def oracle(name: str, image: Image.Image) -> np.ndarray:
        # A blurred map of the image's own fixations: near-perfect, at a quarter of the size
        # (the protocol resizes it); its shape tells the evaluation size.
        seen.append(image.size)
        w, h = image.size
        sal = np.zeros((h // 4 + 1, w // 4 + 1))
        scale = image.size[0] / protocol_sizes[name][0]
        for x, y in fix[name] * scale / 4:
            sal[int(y), int(x)] += 1
        return gaussian_filter(sal, 2)

    protocol_sizes = {n: Image.open(DATA / "nus-scene" / "images" / n).size for n in protocol.images[:6]}
    models = {"oracle": oracle, "centre": lambda n, im: centre_bias(im.size[1], im.size[0])}
    s = summarise(evaluate(protocol, models, 6))
    assert max(max(sz) for sz in seen) <= 1024
    assert s["oracle"]["auc_judd"][0] > 0.9 > s["centre"]["auc_judd"][0]
    assert s["oracle"]["nss"][0] > 2 * s["centre"]["nss"][0]
