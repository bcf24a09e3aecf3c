"""Saliency metrics on cases whose answers are known in closed form."""

import numpy as np
import pytest
from PIL import Image

from impactlens.evaluation.baselines import centre_bias, spectral_residual
from impactlens.evaluation.metrics import auc_judd, cc, kld, nss, shuffled_auc, sim


def _fix(shape, points):
    f = np.zeros(shape, bool)
    for y, x in points:
        f[y, x] = True
    return f


def test_auc_judd_is_one_when_only_fixated_pixels_are_salient():
    fix = _fix((20, 20), [(3, 4), (10, 10), (15, 2)])
    assert auc_judd(fix.astype(float), fix) == pytest.approx(1.0, abs=1e-3)


def test_auc_judd_of_a_ramp_matches_the_hand_computed_area():
    # Saliency = column index on a 1x4 image; one fixation on column 2 (value 2/3 after
    # normalisation). Threshold 2/3: TP=1, FP = (2 above - 1) / 3 = 1/3 -> area = 1 - 1/3/... :
    # ROC points (0,0), (1/3,1), (1,1) -> area = 1/2*1/3*1 + 2/3*1 = 5/6.
    sal = np.array([[0.0, 1.0, 2.0, 3.0]])
    fix = _fix((1, 4), [(0, 2)])
    assert auc_judd(sal, fix) == pytest.approx(5 / 6)


def test_shuffled_auc_is_half_when_negatives_are_the_positives():
    rng = np.random.default_rng(1)
    sal = rng.random((30, 30))
    fix = rng.random((30, 30)) > 0.9
    assert shuffled_auc(sal, fix, fix, splits=5) == pytest.approx(0.5)


def test_shuffled_auc_is_one_when_fixations_are_all_above_negatives():
    sal = np.zeros((10, 10))
    sal[:5] = 1.0
    fix = _fix((10, 10), [(1, 1), (2, 2)])
    other = _fix((10, 10), [(7, 7), (8, 8), (9, 1)])
    assert shuffled_auc(sal, fix, other, splits=3) == pytest.approx(1.0)


def test_nss_of_a_single_peak_equals_its_z_score():
    sal = np.zeros((10, 10))
    sal[5, 5] = 1.0
    expected = (1.0 - sal.mean()) / sal.std()
    assert nss(sal, _fix((10, 10), [(5, 5)])) == pytest.approx(expected)
    assert nss(np.ones((4, 4)), _fix((4, 4), [(1, 1)])) == 0.0


def test_cc_kld_sim_on_identical_and_disjoint_maps():
    rng = np.random.default_rng(0)
    a = rng.random((16, 16))
    assert cc(a, a) == pytest.approx(1.0)
    assert cc(a, -a) == pytest.approx(-1.0)
    assert kld(a, a) == pytest.approx(0.0, abs=1e-9)
    assert sim(a, a) == pytest.approx(1.0)
    left, right = np.zeros((4, 4)), np.zeros((4, 4))
    left[:, :2], right[:, 2:] = 1.0, 1.0
    assert sim(left, right) == pytest.approx(0.0)
    assert kld(left, right) > 10  # all ground-truth mass where the prediction has none


def test_centre_bias_peaks_at_the_centre_and_spectral_residual_finds_an_odd_patch():
    cb = centre_bias(41, 61)
    assert np.unravel_index(cb.argmax(), cb.shape) == (20, 30)
    rng = np.random.default_rng(0)
    arr = rng.integers(100, 140, (128, 128, 1), dtype=np.uint8).repeat(3, axis=2)
    arr[80:92, 20:32] = 255  # a bright square on a textured background
    sal = spectral_residual(Image.fromarray(arr))
    assert sal.shape == (128, 128)
    assert sal[80:92, 20:32].mean() > 3 * sal[10:40, 70:120].mean()
