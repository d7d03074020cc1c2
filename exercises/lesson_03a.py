"""Checks for notebook 03a (neural networks and convolution).

Each check works the right answer out itself from what it is given.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import blank, check_number, close, is_blank, verdict

CU_K_ALPHA = 1.54184  # Angstrom, the X-ray wavelength jarvis-tools' XRD simulates


def check_relu_delta(delta1: Any, X, y, params) -> bool:
    """``delta1`` = dC/dz1 of the ReLU network with ``params`` (W1, b1, W2, b2).

    Right when ``delta1.T @ X`` is autograd's dC/dW1, C = mean((y_hat - y)^2) / 2.
    """
    import torch

    if is_blank(delta1):
        return blank()
    W1, b1, W2, b2 = (p.detach().clone().requires_grad_() for p in params)
    y_hat = (torch.relu(X @ W1.T + b1) @ W2.T + b2).squeeze(1)
    (0.5 * ((y_hat - y) ** 2).mean()).backward()
    try:
        mine = torch.as_tensor(delta1).detach().T @ X
    except (TypeError, RuntimeError):
        return verdict(False, f"delta1 should be a tensor of shape ({len(y)}, "
                              f"{W1.shape[0]}): one row per material, one column per "
                              "hidden unit.")
    scale = float(W1.grad.abs().max()) or 1.0
    ok = mine.shape == W1.grad.shape
    ok = ok and float((mine - W1.grad).abs().max()) <= 1e-4 * scale
    return verdict(ok, "start from delta2 @ W2 (materials x hidden units) and multiply "
                       "it element-wise by the ReLU's slope, (Z1 > 0).",
                   "Your dC/dW1 equals autograd's.")


def check_flatten_size(answer: Any, cnn, n_bins: int) -> bool:
    """How many values ``cnn``'s ``nn.Flatten()`` hands on for ``n_bins`` bins."""
    import torch

    if is_blank(answer):
        return blank()
    layers = list(cnn)
    flat = next(i for i, lay in enumerate(layers) if isinstance(lay, torch.nn.Flatten))
    probe = torch.zeros(1, 1, n_bins, device=next(cnn.parameters()).device)
    with torch.no_grad():
        expected = int(torch.nn.Sequential(*layers[: flat + 1])(probe).shape[1])
    return check_number(answer, expected, "apply (N - F + 2P)/S + 1 to each "
                        "convolution, halve (rounding down) at each pooling, then "
                        "multiply by the channels of the last convolution.", rtol=0)


def d_spacing(a: float, hkl: tuple[int, int, int]) -> float:
    """Spacing (Angstrom) of the planes ``hkl`` of a cubic cell of side ``a``."""
    return a / math.sqrt(sum(i * i for i in hkl))


def check_bragg_angle(answer: Any, a: float, hkl: tuple[int, int, int],
                      wavelength: float = CU_K_ALPHA) -> bool:
    """2 theta (degrees) of reflection ``hkl`` of a cubic crystal of side ``a`` (A)."""
    if is_blank(answer):
        return blank()
    sin_theta = wavelength / (2 * d_spacing(a, hkl))
    if sin_theta > 1:
        return verdict(False, f"{hkl} cannot diffract at this wavelength (lambda > 2d):"
                              " choose smaller indices.")
    theta = math.degrees(math.asin(sin_theta))
    if close(answer, theta, rtol=1e-3):
        return verdict(False, "that is theta; the pattern's axis is 2 theta.")
    return check_number(answer, 2 * theta, "d = a / sqrt(h^2 + k^2 + l^2), then "
                        "2 theta = 2 arcsin(lambda / 2d), in degrees.", rtol=1e-3,
                        unit="degrees")


def pca_errors(X_train: np.ndarray, X_test: np.ndarray, k_max: int) -> list[float]:
    """Test reconstruction errors (mean square) of PCA with 1..k_max components."""
    mean = X_train.mean(0)
    _, _, vt = np.linalg.svd(X_train - mean, full_matrices=False)
    centred = X_test - mean
    # the rows of vt are orthonormal: each component removes its projection's square
    captured = np.cumsum(((centred @ vt[:k_max].T) ** 2).sum(0))
    return [float(e) for e in (float((centred**2).sum()) - captured) / centred.size]


def check_pca_components(answer: Any, X_train, X_test, target_error: float) -> bool:
    """The fewest PCA components with test error <= ``target_error`` (None: none)."""
    if is_blank(answer):
        return blank()
    X_train, X_test = np.asarray(X_train, float), np.asarray(X_test, float)
    errors = pca_errors(X_train, X_test, min(X_train.shape))
    reached = [k for k, e in enumerate(errors, 1) if e <= target_error * (1 + 1e-6)]
    if not reached:
        return verdict(answer is None, "no number of components reaches that error on "
                                       "this test set: answer None.")
    return check_number(answer, reached[0], "fit PCA(k) for k = 1, 2, ... and stop at "
                        "the first whose test error is at most the autoencoder's.",
                        rtol=0)
