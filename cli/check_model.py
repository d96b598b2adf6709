"""``latdyn check-model POSCAR``: how far a model is from the symmetries it should obey."""

from __future__ import annotations

import argparse

from latdyn.cli.options import (
    add_common_options,
    add_force_options,
    add_structure_argument,
    add_supercell_options,
    add_symprec_option,
    displacement_float,
    execution_settings_from,
    supercell_values,
)


def register(subparsers, name: str) -> None:
    parser = subparsers.add_parser(
        name,
        help="symmetry diagnostics of a model, with and without symmetrization",
        description="Compute, on the given (unrelaxed) structure, the model's equivariance "
        "error, the non-conservative part ||Φ-Φᵀ||/||Φ|| and sum-rule violation of its raw "
        "force constants, its acoustic frequencies and the splitting of symmetry-degenerate "
        "modes at Γ, without and with each symmetrization mode, and the cost of each in model "
        "evaluations. Every atom is displaced along ±x, ±y, ±z with no symmetry used. By default "
        "the raw model and the space-group projection are compared (one evaluation per "
        "structure each, about a minute for a 64-atom supercell on 2 CPU cores); --full adds "
        "the O(3) averages o3 and full (48 evaluations per structure at the cheapest Lebedev "
        "order, 3). Prints the planned evaluations and an estimate first, and ends with a "
        "verdict. Writes table.txt and summary.json.",
    )
    add_structure_argument(parser)
    group = parser.add_argument_group("check")
    group.add_argument("--modes", default=None,
                       help="comma-separated symmetrization modes to compare "
                       "(default: none,spacegroup; with --full: none,spacegroup,o3,full)")
    group.add_argument("--full", action="store_true",
                       help="the full battery: all four modes (o3 and full cost 48x the "
                       "evaluations at --rotations 3)")
    group.add_argument("--rotations", type=int, default=None, metavar="ORDER",
                       help="Lebedev order of the o3 and full modes (default: 3)")
    add_supercell_options(group)
    group.add_argument("--displacement", type=displacement_float, default=0.01,
                       help="displacement amplitude, Å (default: %(default)s)")
    add_symprec_option(group)
    add_force_options(parser)
    add_common_options(parser, default_out="latdyn-check-model")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from latdyn.diagnostics import (
        DEFAULT_CHECK_MODES,
        FULL_CHECK_MODES,
        CheckSettings,
        check_model,
        parse_modes,
        plan_check,
    )
    from latdyn.diagnostics.output import check_table, write_check
    from latdyn.errors import InputError
    from latdyn.models.registry import load_model
    from latdyn.provenance import file_sha256
    from latdyn.structure import read_structure

    if args.full and args.modes is not None:
        raise InputError("--full compares all four modes; give --full or --modes, not both")
    if args.modes is not None:
        modes = parse_modes(args.modes)
    else:
        modes = FULL_CHECK_MODES if args.full else DEFAULT_CHECK_MODES
    settings = CheckSettings(
        modes=modes,
        rotations=args.rotations,
        supercell=supercell_values(args.supercell),
        min_length=args.min_length,
        distance=args.displacement,
        symprec=args.symprec,
        execution=execution_settings_from(args),
    )
    atoms = read_structure(args.structure, index=args.index)
    model = load_model(args.model, args.device)
    plan = plan_check(atoms, model, settings)
    per_mode = ", ".join(f"{mode} {n}" for mode, n in plan.evaluations.items())
    print(f"check-model: {plan.n_supercell_atoms}-atom supercell, {plan.n_displacements} "
          f"displaced supercells; {plan.total_evaluations} model evaluations ({per_mode}); "
          f"estimate {plan.estimated_seconds:.0f} s at {plan.seconds_per_evaluation:.2f} s each",
          flush=True)
    check = check_model(atoms, model, settings, plan=plan)
    inputs = {"structure": str(args.structure), "structure_sha256": file_sha256(args.structure),
              "index": args.index}
    write_check(check, args.out, inputs)
    print(f"{check.primitive.get_chemical_formula()}  space group {check.symmetry}  "
          f"model {check.model['name']}  supercell {check.n_supercell_atoms} atoms")
    print(check_table(check), end="")
    print(f"results in {args.out}/")
    return 0
