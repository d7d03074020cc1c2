"""Helpers shared by the notebooks of the JARVIS AI-for-materials curriculum.

Modules: ``runtime`` (mode, sizes, device and precision, seeds), ``results`` (the results card), ``data``
(dataset registry and the one loader), ``properties`` (meanings and units), ``structures`` (jarvis/ASE
conversions), ``plots``. The names imported below are the public interface (``utils.load_dataset``,
``utils.by_mode``, ...).
"""

from . import data, metrics, plots, properties, results, runtime, structures
from .data import (
    DatasetError,
    known_datasets,
    load_dataset,
    split_records,
    to_dataframe,
    with_property,
)
from .properties import DFT_3D_PROPERTIES, label_of, unit_of
from .results import Result, results_card
from .runtime import by_mode, cpu_threads, get_device, is_fast, mode, outputs_dir, seed_everything, setup
from .structures import StructureError, atoms_from_record, from_ase, to_ase
