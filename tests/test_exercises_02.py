"""The checks of lesson 02's exercises accept the right answer and reject wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

from exercises import lesson_02a

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
