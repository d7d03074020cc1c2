"""What the main JARVIS-DFT (dft_3d) properties mean and their units (name -> (meaning, unit)): one table."""

from __future__ import annotations

DFT_3D_PROPERTIES: dict[str, tuple[str, str]] = {
    "formation_energy_peratom": ("formation energy per atom (OptB88vdW)", "eV/atom"),
    "optb88vdw_bandgap": ("band gap, OptB88vdW functional", "eV"),
    "mbj_bandgap": ("band gap, TBmBJ meta-GGA (closer to experiment)", "eV"),
    "hse_gap": ("band gap, HSE06 hybrid functional", "eV"),
    "optb88vdw_total_energy": ("total energy per atom (OptB88vdW)", "eV/atom"),
    "ehull": ("energy above the convex hull", "eV/atom"),
    "bulk_modulus_kv": ("Voigt bulk modulus", "GPa"),
    "shear_modulus_gv": ("Voigt shear modulus", "GPa"),
    "magmom_oszicar": ("magnetic moment per cell (OSZICAR)", "μB"),
    "spillage": ("spin-orbit spillage (topology indicator; > 0.5 suggests a topological material)", "–"),
    "slme": ("spectroscopic limited maximum efficiency (solar cell)", "%"),
    "epsx": ("static dielectric constant, x (OptB88vdW, no local fields)", "–"),
    "mepsx": ("static dielectric constant, x (TBmBJ)", "–"),
    "exfoliation_energy": ("exfoliation energy of a layered material", "meV/atom"),
    "Tc_supercon": ("superconducting critical temperature (BCS, e-ph)", "K"),
    "avg_elec_mass": ("average electron effective mass", "m_e"),
    "avg_hole_mass": ("average hole effective mass", "m_e"),
    "n-Seebeck": ("n-type Seebeck coefficient (BoltzTraP, 600 K, 1e20 /cm3)", "μV/K"),
    "n-powerfact": ("n-type power factor", "μW/(mK²)"),
    "max_efg": ("maximum electric field gradient", "1e21 V/m²"),
    "dfpt_piezo_max_dielectric": ("max. dielectric constant from DFPT", "–"),
    "dfpt_piezo_max_dij": ("max. piezoelectric coefficient d_ij", "pC/N"),
    "density": ("mass density", "g/cm³"),
    "nat": ("atoms in the cell", "–"),
}


def unit_of(prop: str) -> str:
    """The unit of ``prop`` ("" when unknown)."""
    return DFT_3D_PROPERTIES.get(prop, ("", ""))[1]
