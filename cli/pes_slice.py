"""``latdyn pes-slice POSCAR``: the model's energy along the symmetry-preserving free parameters.

A structure with no free parameter (rocksalt, zincblende, fcc...) has nothing to slice along a
mode: the command then prints one line saying so and exits with status 2, writing nothing,
unless only a lattice parameter is scanned (``--lattice a --dof``).
"""

from __future__ import annotations

import argparse

from latdyn.cli.options import (
    add_common_options,
    add_progress_options,
    add_relax_switch,
    add_structure_argument,
    add_symprec_option,
    model_settings_from,
)
from latdyn.cli.symmetrize_options import add_symmetrize_options


def register(subparsers, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="energy landscape along the Wyckoff free parameters (space group kept)",
        description="Find the structure's symmetry-preserving internal degrees of freedom (the "
        "Wyckoff free parameters, by projection onto the invariant subspace of the space group's "
        "displacement representation) and evaluate the model's energy on a 1D or 2D grid along "
        "them and optionally one lattice parameter. Writes grid.csv, landscape.png and "
        "summary.json; with --dft, also the difference to reference energies on the same grid.",
    )
    add_structure_argument(parser)
    group = parser.add_argument_group("slice")
    group.add_argument("--dof", type=int, nargs="*", default=[0], metavar="I",
                       help="indices of the free parameters to scan, at most 2; give --dof "
                       "without an index to scan only --lattice (default: 0)")
    group.add_argument("--lattice", choices=["a", "b", "c"], default=None,
                       help="also scan this lattice parameter (with the symmetry-equivalent "
                       "ones) as a scale factor")
    group.add_argument("--grid", type=int, default=41,
                       help="points per axis (default: %(default)s)")
    group.add_argument("--range", type=float, nargs=2, default=[-0.1, 0.1],
                       metavar=("LOW", "HIGH"), dest="amplitude_range",
                       help="mode amplitude range in Å around the structure; an amplitude moves "
                       "the atoms of a mode by at most that much (default: -0.1 0.1)")
    group.add_argument("--lattice-range", type=float, nargs=2, default=[0.97, 1.03],
                       metavar=("LOW", "HIGH"),
                       help="lattice scale-factor range (default: 0.97 1.03)")
    group.add_argument("--dft", default=None, metavar="CSV",
                       help="reference energies on the same grid: a CSV with the axis columns "
                       "of grid.csv (dof0, lattice_c, ...) and energy_eV")
    add_relax_switch(group, False, "slice the structure as given (the default)",
                     "relax positions and cell (space group fixed) before slicing")
    add_symprec_option(group)
    add_progress_options(group)
    add_symmetrize_options(parser)
    add_common_options(parser, default_out="latdyn-pes-slice")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from latdyn.landscape import SliceSettings, compare_with_reference, run_slice
    from latdyn.landscape.output import read_reference_energies, write_slice_run
    from latdyn.landscape.slice import build_axes
    from latdyn.landscape.wyckoff import find_internal_modes
    from latdyn.provenance import file_sha256
    from latdyn.structure import read_structure

    settings = SliceSettings(
        model=model_settings_from(args), dofs=tuple(args.dof), lattice=args.lattice,
        grid=args.grid, amplitude_range=tuple(args.amplitude_range),
        lattice_range=tuple(args.lattice_range), symprec=args.symprec,
        progress=not args.no_progress, relax=args.relax,
    )
    atoms = read_structure(args.structure, index=args.index)
    # Check the axes and the reference table before any model evaluation.
    axes = build_axes(atoms, find_internal_modes(atoms, settings.symprec), settings)
    reference = read_reference_energies(args.dft, axes) if args.dft else None
    landscape = run_slice(atoms, settings)
    comparison = compare_with_reference(landscape, reference) if reference is not None else None
    inputs = {"structure": str(args.structure), "structure_sha256": file_sha256(args.structure),
              "index": args.index, "dft": args.dft,
              "dft_sha256": file_sha256(args.dft) if args.dft else None}
    summary = write_slice_run(landscape, args.out, inputs, comparison)
    print_report(summary, args.out)
    return 0


def print_report(summary: dict, out) -> None:
    structure = summary["structure"]
    modes = summary["internal_modes"]
    print(f"{structure['formula']}  space group {structure['space_group']}  "
          f"model {summary['model']['name']}")
    print(f"{modes['n_modes']} free parameter(s): "
          + "  ".join(f"dof{i}: {label}" for i, label in enumerate(modes["labels"])))
    landscape = summary["landscape"]
    names = [a["name"] for a in summary["axes"]]
    where = ", ".join(f"{n}={v:.4g}" for n, v in zip(names, landscape["refined_minimum"],
                                                     strict=True))
    print(f"minimum at {where} (refined; grid spacing "
          + ", ".join(f"{(a['last'] - a['first']) / (a['n_points'] - 1):.3g}"
                      for a in summary["axes"])
          + f"), {len(landscape['saddle_points'])} saddle/barrier point(s), "
          f"range {landscape['energy_range_meV_per_atom']:.3g} meV/atom")
    if "reference" in summary:
        reference = summary["reference"]
        where = ", ".join(f"{n}={v:.4g}" for n, v in zip(names, reference["refined_minimum"],
                                                         strict=True))
        print(f"reference minimum at {where}; RMS difference "
              f"{reference['rms_difference_meV_per_atom']:.3g} meV/atom")
    print(f"results in {out}/")
