"""Checks of notebook 02b (classification, and maps of materials without labels).

Each check recomputes the right answer from the inputs the learner passes, so it holds
for any data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import blank, check_number, close, is_blank, verdict


def check_boundary(x_switch: Any, w: np.ndarray) -> bool:
    """Standardised feature 1 at which b + w1 x1 + w2 * 0 = 0 (probability 0.5)."""
    b, w1 = float(w[0]), float(w[1])
    hint = "set the score b + w1 * x to zero: x = -b / w1 (w[0] is b, w[1] is w1)."
    return check_number(x_switch, -b / w1, hint, rtol=1e-6)


def check_probability(p: Any, clf: Any, x: np.ndarray, is_nonmetal: bool) -> bool:
    """The classifier's probability of "non-metal" for one material (features ``x``)."""
    if is_blank(p):
        return blank()
    want = float(clf.predict_proba(np.asarray(x, dtype=float).reshape(1, -1))[0, 1])
    if close(p, 1 - want, atol=1e-9) and not close(p, want, atol=1e-9):
        return verdict(False, "that is the probability of a metal: take column 1 "
                              "of predict_proba, the class True (non-metal).")
    if not close(p, want, atol=1e-9):
        return verdict(False, "the forest's predict_proba(X['test'][i : i + 1])[0, 1].")
    right = (want > 0.5) == bool(is_nonmetal)
    truth = "a non-metal" if is_nonmetal else "a metal"
    judged = "right" if right else "wrong"
    return verdict(True, "", f"P(non-metal) = {want:.2f}; DFT says {truth}, so the "
                             f"forest is {judged} at the threshold 0.5.")


def check_gini(g: Any, labels: np.ndarray) -> bool:
    """Gini impurity 1 - sum_k p_k^2 of a set of two-class labels."""
    labels = np.asarray(labels).astype(int)
    p = np.bincount(labels, minlength=2) / max(len(labels), 1)
    return check_number(g, 1.0 - float(np.sum(p**2)), "the class fractions p_k are the "
                        "shares of False and True in y['train']; G = 1 - sum of p_k^2.",
                        rtol=1e-6)


def check_ari(ari: Any, truth: np.ndarray, clusters: Any, k: Any) -> bool:
    """ARI of ``clusters`` against ``truth``, for clusters that hold ``k`` groups."""
    from sklearn.metrics import adjusted_rand_score

    if is_blank([ari, clusters, k]):
        return blank()
    clusters = np.asarray(clusters)
    if clusters.shape != np.shape(truth):
        return verdict(False, "my_clusters needs one cluster label per material of Zp.")
    found = len(np.unique(clusters))
    if found != k:
        return verdict(False, f"your labels hold {found} clusters, not MY_K = {k}: "
                              "pass n_clusters=MY_K to KMeans.")
    return check_number(ari, adjusted_rand_score(truth, clusters),
                        "adjusted_rand_score(nonmetal_all, my_clusters).", rtol=1e-6,
                        atol=1e-9)
