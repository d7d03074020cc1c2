"""The checks of lesson 03's exercises accept the right answer, reject wrong ones with a hint, and treat a
blank (``...``) as not yet answered, never as an error."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from ase.build import bulk  # noqa: E402

from exercises import lesson_03a, lesson_03b  # noqa: E402


def small_network(n=12, n_in=5, hidden=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    X, y = torch.randn(n, n_in, generator=g), torch.randn(n, generator=g)
    params = [torch.randn(hidden, n_in, generator=g), torch.randn(hidden, generator=g),
              torch.randn(1, hidden, generator=g), torch.randn(1, generator=g)]
    return X, y, params


def test_relu_delta_accepts_the_chain_rule_and_rejects_tanh_slope(capsys):
    X, y, (W1, b1, W2, b2) = small_network()
    Z1 = X @ W1.T + b1
    y_hat = (torch.relu(Z1) @ W2.T + b2).squeeze(1)
    delta2 = ((y_hat - y) / len(y))[:, None]
    params = [W1, b1, W2, b2]
    assert lesson_03a.check_relu_delta((delta2 @ W2) * (Z1 > 0), X, y, params)
    assert not lesson_03a.check_relu_delta((delta2 @ W2) * (1 - torch.tanh(Z1) ** 2), X, y, params)
    assert not lesson_03a.check_relu_delta(delta2 @ W2, X, y, params)  # the slope forgotten
    assert not lesson_03a.check_relu_delta("not a tensor", X, y, params)
    assert not lesson_03a.check_relu_delta(..., X, y, params)
    assert "Replace each ..." in capsys.readouterr().out


def test_flatten_size_is_read_from_the_network():
    nn = torch.nn
    cnn = nn.Sequential(nn.Conv1d(1, 8, 9, padding=4), nn.ReLU(), nn.MaxPool1d(2),
                        nn.Conv1d(8, 16, 9, padding=4), nn.ReLU(), nn.MaxPool1d(2),
                        nn.Flatten(), nn.Linear(16 * 40, 7))
    assert lesson_03a.check_flatten_size(640, cnn, 160)
    assert not lesson_03a.check_flatten_size(40, cnn, 160)  # length only, channels forgotten
    assert not lesson_03a.check_flatten_size(16 * 80, cnn, 160)
    assert lesson_03a.check_flatten_size(16 * 25, cnn, 101)  # 101 -> 50 -> 25
    assert not lesson_03a.check_flatten_size(..., cnn, 160)


def test_bragg_angle_recomputes_for_the_chosen_crystal(capsys):
    two_theta_nacl_200 = 2 * math.degrees(math.asin(1.54184 / (2 * 5.64 / 2)))
    assert lesson_03a.check_bragg_angle(two_theta_nacl_200, 5.64, (2, 0, 0))
    assert lesson_03a.check_bragg_angle(43.42, 3.61, (1, 1, 1))  # Cu (111)
    assert not lesson_03a.check_bragg_angle(two_theta_nacl_200 / 2, 5.64, (2, 0, 0))
    assert "theta" in capsys.readouterr().out
    assert not lesson_03a.check_bragg_angle(two_theta_nacl_200, 5.64, (1, 1, 1))
    assert not lesson_03a.check_bragg_angle(100.0, 2.0, (3, 3, 3))  # cannot diffract
    assert not lesson_03a.check_bragg_angle(..., 5.64, (2, 0, 0))


def test_bragg_angle_matches_the_peak_jarvis_tools_simulates():
    from jarvis.analysis.diffraction.xrd import XRD

    from utils import from_ase

    peaks = np.array(XRD(thetas=[0, 90]).simulate(atoms=from_ase(bulk("Cu", "fcc", a=3.61, cubic=True)))[0])
    two_theta = 2 * math.degrees(math.asin(1.54184 / (2 * lesson_03a.d_spacing(3.61, (1, 1, 1)))))
    assert np.abs(peaks - two_theta).min() < 0.01


def test_pca_components_agree_with_scikit_learn():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 20))
    X_train = rng.normal(size=(60, 3)) * [5, 2, 1] @ basis + 0.05 * rng.normal(size=(60, 20))
    X_test = rng.normal(size=(20, 3)) * [5, 2, 1] @ basis + 0.05 * rng.normal(size=(20, 20))
    errors = lesson_03a.pca_errors(X_train, X_test, 4)
    for k, err in enumerate(errors, 1):
        pca = PCA(k).fit(X_train)
        assert err == pytest.approx(((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2).mean())
    target = (errors[1] + errors[2]) / 2  # between 2 and 3 components
    assert lesson_03a.check_pca_components(3, X_train, X_test, target)
    assert not lesson_03a.check_pca_components(2, X_train, X_test, target)
    assert not lesson_03a.check_pca_components(4, X_train, X_test, target)
    assert lesson_03a.check_pca_components(None, X_train, X_test, -1.0)  # unreachable
    assert not lesson_03a.check_pca_components(..., X_train, X_test, target)


def test_score_std_wants_the_square_root_of_d_k(capsys):
    assert lesson_03b.check_score_std(8.03, d_k=64)
    assert not lesson_03b.check_score_std(64.0, d_k=64)
    assert "variance" in capsys.readouterr().out
    assert not lesson_03b.check_score_std(1.0, d_k=64)
    assert not lesson_03b.check_score_std(..., d_k=64)


def test_rope_pair_is_adjacent_and_turns_at_the_pair_frequency(capsys):
    assert lesson_03b.check_rope_pair(4, 0.3, dim=5, position=3, d=16)
    assert lesson_03b.check_rope_pair(2, 2 * 10000 ** (-2 / 16), dim=3, position=2, d=16)
    assert not lesson_03b.check_rope_pair(13, 0.3, dim=5, position=3, d=16)
    assert "halves" in capsys.readouterr().out
    assert not lesson_03b.check_rope_pair(6, 0.3, dim=5, position=3, d=16)
    assert not lesson_03b.check_rope_pair(4, 3 * 10000 ** (-5 / 16), dim=5, position=3, d=16)  # i = dim
    assert not lesson_03b.check_rope_pair(4, ..., dim=5, position=3, d=16)
    assert lesson_03b.rope_partner(5, 16, halves=True) == 13
    # with halves, dimension 5 belongs to pair i = 5 and turns slower than pair 2
    assert lesson_03b.rope_angle(13, 3, 16, halves=True) == pytest.approx(3 * 10000 ** (-10 / 16))


def test_bond_angle_count_recomputes_for_the_chosen_crystal(capsys):
    copper = bulk("Cu", "fcc", a=3.61, cubic=True)  # 4 atoms, 12 neighbours each
    assert lesson_03b.bond_angle_count(copper, 3.0) == 4 * 66
    assert lesson_03b.check_bond_angle_count(264, copper, 3.0)
    assert not lesson_03b.check_bond_angle_count(24, copper, 3.0)  # bonds, not angles
    assert "counts bonds" in capsys.readouterr().out
    assert not lesson_03b.check_bond_angle_count(48, copper, 3.0)
    silicon = bulk("Si", "diamond", a=5.431, cubic=True)
    assert lesson_03b.check_bond_angle_count(48, silicon, 2.6)
    assert lesson_03b.check_bond_angle_count(0, silicon, 1.0)  # no bonds at all
    assert not lesson_03b.check_bond_angle_count(..., silicon, 2.6)


def test_noise_wins_counts_steps_from_one(capsys):
    betas = np.linspace(1e-4, 0.1, 200)
    alpha_bar = np.cumprod(1 - betas)
    first = int(np.flatnonzero(alpha_bar < 0.5)[0]) + 1
    assert lesson_03b.check_noise_wins(first, betas)
    assert not lesson_03b.check_noise_wins(first - 1, betas)
    assert "from 1" in capsys.readouterr().out
    assert not lesson_03b.check_noise_wins(first + 5, betas)
    assert lesson_03b.check_noise_wins(None, np.full(5, 1e-4))  # the noise never wins
    assert not lesson_03b.check_noise_wins(..., betas)
