"""Checks of part 06b (training ML potentials on DFT data)."""

from __future__ import annotations

import numpy as np

from . import blank, check_number, close, is_blank, verdict


def check_baselines(energy_baseline, force_baseline, train, test) -> bool:
    """Energy baseline: MAE (meV/atom) of the training-mean energy per atom on ``test``;
    force baseline: the mean |force component| (eV/Å) of ``test`` (predicting zero)."""
    if is_blank((energy_baseline, force_baseline)):
        return blank()
    mean = np.mean([c.energy_per_atom for c in train])
    e_expected = 1000 * np.mean([abs(c.energy_per_atom - mean) for c in test])
    f_expected = float(
        np.mean(np.abs(np.concatenate([c.forces.ravel() for c in test])))
    )
    if not close(energy_baseline, e_expected, rtol=1e-3):
        hint = (
            "the energy baseline is the mean of |E_test - mean(E_train)|, times 1000"
            if not close(energy_baseline, e_expected / 1000, rtol=1e-3)
            else "multiply by 1000: meV/atom"
        )
        return verdict(False, hint)
    return check_number(
        force_baseline,
        f_expected,
        "the zero-force baseline is the mean of |F| over every "
        "force component of the test set",
        rtol=1e-3,
        unit="eV/Å",
    )


def check_element_baseline(element, n_test, energy_baseline) -> bool:
    """For mlearn ``element``: the number of test configurations of the leaderboard
    split and the test MAE (meV/atom) of the training-mean energy, recomputed here."""
    from utils import forcefields as ff
    from utils import load_dataset, split_records

    if is_blank((element, n_test, energy_baseline)):
        return blank()
    records = load_dataset(
        ff.check_element(str(element)), fallback_to_sample=True, verbose=False
    )
    configs = ff.prepare_configs(
        records, str(element), split_records(records, "total_energy").labels
    )
    parts = ff.split_configs(configs, seed=42)
    mean = np.mean([c.energy_per_atom for c in parts["train"]])
    expected = 1000 * np.mean([abs(c.energy_per_atom - mean) for c in parts["test"]])
    if n_test != len(parts["test"]):
        return verdict(
            False,
            f"{element} has {len(parts['test'])} test configurations in the split ("
            f"ff.split_configs(configs, seed=42)), not {n_test}",
        )
    return check_number(
        energy_baseline,
        expected,
        "predict the training-mean energy per atom for every test "
        "configuration and take the mean absolute error, in meV/atom",
        unit="meV/atom",
    )
