"""The checks of lesson 02's exercises accept the right answer and reject wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

from exercises import lesson_02a, lesson_02b, lesson_02c

RNG = np.random.default_rng(0)


def test_exact_fit_accepts_the_square_solve_and_rejects_a_wrong_rank_or_rss(capsys):
    A = np.c_[np.ones(9), RNG.normal(size=(9, 8))]
    y = RNG.normal(size=9)
    rss = float(np.sum((y - A @ np.linalg.solve(A, y)) ** 2))
    assert lesson_02a.check_exact_fit(9, rss, A, y)
    assert not lesson_02a.check_exact_fit(8, rss, A, y)
    assert not lesson_02a.check_exact_fit(9, 1.0, A, y)
    assert not lesson_02a.check_exact_fit(..., ..., A, y)
    assert "Replace each ..." in capsys.readouterr().out


def test_exact_fit_with_dependent_rows_expects_the_least_squares_residual():
    A = np.c_[np.ones(9), RNG.normal(size=(9, 8))]
    A[8] = A[7]  # two identical materials: rank 8
    y = RNG.normal(size=9)
    w = np.linalg.lstsq(A, y, rcond=None)[0]
    rss = float(np.sum((y - A @ w) ** 2))
    assert rss > 1e-6
    assert lesson_02a.check_exact_fit(8, rss, A, y)
    assert not lesson_02a.check_exact_fit(8, 0.0, A, y)


def test_paired_difference_checks_sign_and_standard_error(capsys):
    y = RNG.normal(size=30)
    a, b = y + RNG.normal(scale=0.3, size=30), y + RNG.normal(scale=0.5, size=30)
    d = np.abs(a - y) - np.abs(b - y)
    diff, se = d.mean(), d.std(ddof=1) / np.sqrt(30)
    assert lesson_02a.check_paired(diff, se, y, a, b)
    assert not lesson_02a.check_paired(-diff, se, y, a, b)
    assert "flip the sign" in capsys.readouterr().out
    assert not lesson_02a.check_paired(diff, d.std(), y, a, b)
    assert not lesson_02a.check_paired(diff, ..., y, a, b)


def test_coverage_wants_a_fraction_of_the_test_set(capsys):
    y = RNG.normal(size=50)
    mu, sigma = y + RNG.normal(size=50), np.ones(50)
    share = np.mean(np.abs(y - mu) <= sigma)
    assert lesson_02a.check_coverage(share, y, mu, sigma)
    assert not lesson_02a.check_coverage(100 * share, y, mu, sigma)
    assert "not a percentage" in capsys.readouterr().out
    assert not lesson_02a.check_coverage(share + 0.1, y, mu, sigma)
    assert not lesson_02a.check_coverage("half", y, mu, sigma)


@pytest.fixture(scope="module")
def gp():
    from sklearn.gaussian_process import GaussianProcessRegressor

    X = RNG.normal(size=(20, 3))
    return GaussianProcessRegressor(optimizer=None).fit(X, X.sum(axis=1)), X


def test_gp_prediction_wants_the_mean_and_the_standard_deviation(gp, capsys):
    model, X = gp
    x = X[0] + 0.5
    mean, std = model.predict(x[None], return_std=True)
    assert lesson_02a.check_gp_prediction(mean[0], std[0], model, x, y_dft=0.0)
    assert "side ±2σ" in capsys.readouterr().out
    assert not lesson_02a.check_gp_prediction(mean[0], std[0] ** 2 + 1.0, model, x)
    assert not lesson_02a.check_gp_prediction(mean[0] + 1.0, std[0], model, x)
    assert not lesson_02a.check_gp_prediction(..., std[0], model, x)


# --- 02b ---


def test_boundary_is_minus_b_over_w1():
    w = np.array([-2.0, 0.5, -1.0])
    assert lesson_02b.check_boundary(4.0, w)
    assert not lesson_02b.check_boundary(-4.0, w)
    assert not lesson_02b.check_boundary(..., w)


@pytest.fixture(scope="module")
def forest():
    from sklearn.ensemble import RandomForestClassifier

    X = RNG.normal(size=(60, 4))
    labels = X[:, 0] + 0.3 * RNG.normal(size=60) > 0
    return RandomForestClassifier(20, random_state=0).fit(X, labels), X


def test_probability_wants_the_non_metal_column(forest, capsys):
    clf, X = forest
    x = X[3]
    p = clf.predict_proba(x[None])[0, 1]
    assert lesson_02b.check_probability(p, clf, x, True)
    if not np.isclose(p, 0.5):
        assert not lesson_02b.check_probability(1 - p, clf, x, True)
        assert "probability of a metal" in capsys.readouterr().out
    assert not lesson_02b.check_probability(p + 0.3, clf, x, True)
    assert not lesson_02b.check_probability(..., clf, x, True)


def test_gini_of_a_labelled_set():
    labels = np.array([True] * 3 + [False] * 7)
    assert lesson_02b.check_gini(1 - 0.3**2 - 0.7**2, labels)
    assert not lesson_02b.check_gini(0.5, labels)
    assert not lesson_02b.check_gini(0.3, labels)  # a class fraction, not the impurity


def test_ari_needs_the_chosen_number_of_clusters(capsys):
    from sklearn.metrics import adjusted_rand_score

    truth = np.array([0, 0, 1, 1, 1, 0, 1, 0])
    clusters = np.array([0, 0, 1, 1, 2, 0, 1, 2])
    ari = adjusted_rand_score(truth, clusters)
    assert lesson_02b.check_ari(ari, truth, clusters, 3)
    assert not lesson_02b.check_ari(ari, truth, clusters, 2)
    assert "hold 3 clusters" in capsys.readouterr().out
    assert not lesson_02b.check_ari(ari + 0.2, truth, clusters, 3)
    assert not lesson_02b.check_ari(ari, truth, clusters[:4], 3)


# --- 02c ---


def test_extrapolation_solves_the_fitted_line():
    log_n = np.log([30, 60, 120, 240])
    log_mae = np.log([0.6, 0.48, 0.38, 0.31])
    s, log_a = np.polyfit(log_n, log_mae, 1)
    n = np.exp((np.log(0.14) - log_a) / s)
    assert lesson_02c.check_extrapolation(n, log_n, log_mae, target=0.14)
    assert not lesson_02c.check_extrapolation(np.log(n), log_n, log_mae, target=0.14)
    assert not lesson_02c.check_extrapolation(..., log_n, log_mae, target=0.14)


class _Sum:
    """A fitted model that predicts the row sums."""

    def predict(self, X):
        return np.asarray(X).sum(axis=1)


def test_permutation_rise_is_recomputed_from_the_shuffled_matrix(capsys):
    X = RNG.normal(size=(40, 5))
    y = X.sum(axis=1)
    shuffled = X.copy()
    shuffled[:, :2] = X[RNG.permutation(40)][:, :2]
    rise = np.mean(np.abs(y - shuffled.sum(axis=1)))  # the unshuffled MAE is 0
    assert lesson_02c.check_permutation_rise(rise, _Sum(), X, shuffled, y)
    assert not lesson_02c.check_permutation_rise(0.0, _Sum(), X, shuffled, y)
    assert not lesson_02c.check_permutation_rise(0.0, _Sum(), X, X.copy(), y)
    assert "equals X_eval" in capsys.readouterr().out
    assert not lesson_02c.check_permutation_rise(..., _Sum(), X, shuffled, y)


def test_property_wants_the_mad_and_the_test_mae():
    from utils.features import SplitData

    X = RNG.normal(size=(30, 3))
    data = {"train": SplitData(X[:20], X[:20].sum(axis=1), []),
            "test": SplitData(X[20:], X[20:].sum(axis=1) + 0.1, [])}
    mad = np.mean(np.abs(data["test"].y - data["train"].y.mean()))
    assert lesson_02c.check_property(0.1, mad, _Sum(), data)
    assert not lesson_02c.check_property(0.1, mad + 0.5, _Sum(), data)
    assert not lesson_02c.check_property(0.2, mad, _Sum(), data)
    assert not lesson_02c.check_property(..., mad, _Sum(), data)
