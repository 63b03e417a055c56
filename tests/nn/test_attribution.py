"""Reasons for an anomaly: each row's features by share of its score (of its reconstruction
error, and under the combined score of its distance from the centre where that part is the larger)."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from autoencoder_pipelines.nn.detector import AutoencoderDetector


@pytest.fixture(scope="module")
def planted():
    """Breast-cancer rows (30 correlated measurements), standardised; 60 held-out rows each get
    one column, drawn at random, pushed 6 standard deviations off."""
    x = load_breast_cancer().data
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    train, held_out = x[order[:450]], x[order[450:510]].copy()
    columns = rng.integers(0, x.shape[1], size=len(held_out))
    held_out[np.arange(len(held_out)), columns] += 6.0 * rng.choice([-1.0, 1.0], size=len(held_out))
    return train, held_out, columns


@pytest.mark.parametrize("score_rule", ["combined", "reconstruction"])
def test_the_attribution_names_the_perturbed_column(planted, score_rule):
    train, held_out, columns = planted
    detector = AutoencoderDetector(epochs=60, batch_size=64, learning_rate=0.01, top_k=3, random_state=0,
                                   score_rule=score_rule).fit(train)
    top, shares = detector.explain(held_out)
    assert top.shape == shares.shape == (len(held_out), 3)
    assert np.all(np.diff(shares, axis=1) <= 0) and np.all((shares > 0) & (shares <= 1))
    hit_rate = float((top[:, 0] == columns).mean())
    assert hit_rate >= 0.9, hit_rate
    if score_rule == "reconstruction":  # the shares are of each row's error, whose mean is its score
        errors = detector.feature_scores(held_out)
        assert np.allclose(errors.mean(axis=1), detector.decision_function(held_out), rtol=1e-5)
    assert detector.explain(held_out, k=50)[0].shape == (len(held_out), 30)  # k at most the features


def test_flagged_rows_carry_their_reasons_and_the_others_none(planted):
    train, held_out, columns = planted
    detector = AutoencoderDetector(epochs=5, batch_size=64, top_k=2, random_state=0).fit(train)
    flagged = detector.predict(held_out).astype(bool)
    names = [f"f{i}" for i in range(train.shape[1])]
    reasons = detector.reasons(held_out, names, flagged)
    assert list(reasons) == ["top_feature_1", "top_share_1", "top_feature_2", "top_share_2"]
    assert flagged.any() and all(v is None for v in reasons["top_feature_1"][~flagged])
    assert np.isnan(reasons["top_share_2"][~flagged]).all()
    top, shares = detector.explain(held_out[flagged], 2)
    assert list(reasons["top_feature_1"][flagged]) == [names[i] for i in top[:, 0]]
    assert np.allclose(reasons["top_share_2"][flagged], shares[:, 1])
