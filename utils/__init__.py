"""Helpers shared by the notebooks of the JARVIS AI-for-materials curriculum: what no lesson teaches.

One job per module:

* ``runtime``: mode (fast, workshop, full), sizes by mode, device and precision, seeds, threads, output folders.
* ``results``: the results card that ends every part.
* ``files``: streamed JSON, zip sniffing, validated downloads, atomic writes, damaged caches, the network probe.
* ``data``: the dataset registry, the one loader (``load_dataset``) and what a record's values mean.
* ``leaderboard``: JARVIS-Leaderboard benchmark files and the train/val/test splits they define.
* ``chipsff_reference``: the built dataset joining CHIPS-FF materials, DFT and experimental values.
* ``properties``: meanings and units of the dft_3d properties. ``metrics``: MAE, MAD.
* ``structures``: jarvis-tools ``Atoms`` from records, ASE conversions, standard cells. ``plots``: shared figures.
* ``features``: CFID and composition descriptors with their cache (lessons 02, 03).
* ``gnn``: ALIGNN graphs, datasets, checkpoints and the training loop lesson 04 writes out.
* ``alignn_trainer``: the driver of alignn's own trainer. ``pretrained``: alignn's published models.
* ``llm``: structure text, tokenizers, models and scoring for lesson 05.
* ``forcefields``: mlearn configurations and ALIGNN-FF training and calculators (lessons 06, 07).
* ``simulation``: relaxations, E(V), elastic constants, MD with any ASE calculator (06, 07).
* ``potentials``: the GNN potential lesson 06a writes out, batched graphs and its ASE calculator (06).
* ``benchmark``: the CHIPS-FF-style protocol and the registry of universal force fields (07).

The names imported below are the public interface (``utils.load_dataset``, ``utils.by_mode``, ...).
"""

from . import data, files, leaderboard, metrics, plots, properties, results, runtime, structures
from .data import DatasetError, load_dataset, to_dataframe, with_property
from .leaderboard import split_records
from .properties import DFT_3D_PROPERTIES, unit_of
from .results import Result, results_card
from .runtime import by_mode, cpu_threads, outputs_dir, seed_everything, setup
from .structures import StructureError, atoms_from_record, from_ase, to_ase
