# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Benchmark SSD-KD against Fast-2/5/10, DeepInversion, CMI and DFQ (group
``published``), its ablation grid and mmrazor's DAFL, ZSKT and DFAD: same
teacher, same wall-clock budget, same machine.

    python tools/benchmark.py                       # everything, 3 seeds
    python tools/benchmark.py --methods main --seeds 0 --budget 300
    python tools/benchmark.py --methods ssdkd fast2 dafl --no-overhead
    python tools/benchmark.py --protocol plateau --budget 600 --seeds 0 1 2
    python tools/benchmark.py --protocol race --budget 600 --seeds 0 1 2 \
        --results-json docs/results/race.json

The plateau protocol (ssdkd_mm/experiments/plateau.py) runs the reference
(--reference, Fast-2) for T = --budget and 2T, and --method (SSD-KD) for
--plateau-fractions of T, each fitted to its own budget, and writes
docs/results/plateau.json (--out) with the time SSD-KD needs to reach the
reference's accuracy at T; --cfg-options KEY=VALUE change --method's config.

The race (ssdkd_mm/experiments/race.py) runs every method x seed for the
budget, evaluates the students every --grid of it, and writes race.json
(time to 90/95/98 % of the teacher, ratios against the fastest published
peer and the ablation cells), race.md and race_accuracy.png to the work dir
and beside --results-json; --variant NAME BASE KEY=VALUE... races a method
with config overrides under its own name; --plan only prints the runs;
--testbed small races the README's pair at half width with a stride-2 first
stage (its own configs and teacher, work_dirs/race_small/teacher), for
machines too slow for the README's pair.

Writes work_dirs/benchmark/{records.csv,records.jsonl,results.json,
accuracy_vs_time.png,benchmark.md} and, with --docs, the results section of
docs/benchmarks.md. Finished (method, seed) runs in records.jsonl are reused:
an interrupted benchmark continues where it stopped.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args(argv=None):
    from ssdkd_mm.experiments.benchmark import GROUPS, METHODS
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument(
        '--methods', nargs='+', default=None,
        help=f'methods and/or groups {sorted(GROUPS)} (race: also '
        f'"race", its default field); default: all (grid), race (race); '
        f'methods: {", ".join(METHODS)}')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--budget', type=float, default=150.0,
                   help='seconds of training-loop time per run')
    p.add_argument('--points', type=float, nargs='+', default=None,
                   help='snapshot times in seconds (default: 1/3 and 2/3 '
                   'of the budget; the end is always evaluated)')
    p.add_argument('--fractions', type=float, nargs='+',
                   default=[0.6, 0.7, 0.8],
                   help='time-to-accuracy targets, fractions of the teacher')
    p.add_argument('--reference', default='fast2')
    p.add_argument('--protocol', choices=['grid', 'plateau', 'race'],
                   default='grid',
                   help="'grid': methods x seeds at one budget (default); "
                   "'plateau': the plateau protocol; 'race': time to "
                   "90/95/98 %% of the teacher")
    p.add_argument('--method', default='ssdkd',
                   help='plateau: the method measured against --reference')
    p.add_argument('--label', default=None,
                   help='plateau: name of --method\'s runs with these '
                   '--cfg-options (variants share the reference runs)')
    p.add_argument('--plateau-fractions', type=float, nargs='+',
                   default=[0.25, 0.5, 1.0],
                   help='plateau: budgets of --method as fractions of T')
    p.add_argument('--no-plateau-check', action='store_true',
                   help='plateau: skip the reference run at 2T')
    p.add_argument('--out', default='docs/results/plateau.json',
                   help='plateau: where the summary JSON goes')
    p.add_argument('--cfg-options', nargs='+', default=[],
                   metavar='KEY=VALUE',
                   help='plateau: config overrides of --method, e.g. '
                   'model.sampler.uniform_mix=0.5')
    add_race_args(p)
    p.add_argument('--work-dir', default=None,
                   help='default: work_dirs/benchmark (grid), '
                   'work_dirs/plateau (plateau) or work_dirs/race (race; '
                   'work_dirs/race_small with --testbed small)')
    p.add_argument('--data-root', default='data/fashion_mnist')
    p.add_argument('--teacher-dir', default=None,
                   help='teacher.pth + teacher.json (trained if absent); '
                   'default: the testbed\'s, work_dirs/demo/teacher for '
                   'the README\'s pair')
    p.add_argument('--docs', default=None,
                   help='also write the results section of this Markdown '
                   'file, e.g. docs/benchmarks.md')
    p.add_argument('--no-overhead', action='store_true',
                   help='skip the plugin-vs-plain-PyTorch overhead timing')
    p.add_argument('--fresh', action='store_true',
                   help='ignore finished runs in the work dir')
    args = p.parse_args(argv)
    if args.budget <= 0:
        p.error('--budget must be > 0 seconds')
    if any(not 0 < f <= 1 for f in args.fractions + args.plateau_fractions):
        p.error('--fractions and --plateau-fractions must be in (0, 1]')
    if not 0 < args.grid < 1:
        p.error('--grid must be in (0, 1)')
    if args.testbed != 'readme' and args.protocol != 'race':
        p.error(f'--testbed {args.testbed}: only the race runs on another '
                'testbed than the README\'s pair')
    from ssdkd_mm.experiments.testbeds import get_testbed
    args.teacher_dir = (args.teacher_dir
                        or get_testbed(args.testbed)['teacher_dir'])
    try:
        args.cfg_options = parse_options(args.cfg_options)
        args.variant = {v[0]: dict(base=v[1], options=parse_options(v[2:]))
                        for v in args.variant or []}
    except (ValueError, IndexError) as e:
        p.error(str(e) if isinstance(e, ValueError) else
                '--variant takes NAME BASE [KEY=VALUE ...]')
    return args


def add_race_args(p):
    """The race's options (``--protocol race``)."""
    from ssdkd_mm.experiments.race import ONE_SEED
    from ssdkd_mm.experiments.testbeds import DEFAULT, TESTBEDS
    p.add_argument('--testbed', choices=sorted(TESTBEDS), default=DEFAULT,
                   help='race: the teacher-student pair (configs and '
                   'teacher cache): "readme", the README\'s ResNet-34 -> '
                   'ResNet-18 (default), or "small", the same at half '
                   'width with a stride-2 first stage (~14x fewer '
                   'multiply-adds), for slow machines')
    p.add_argument('--grid', type=float, default=0.05,
                   help='race: snapshot every GRID x budget (default 0.05)')
    p.add_argument('--default', default='ssdkd',
                   help='race: the method whose ratios are reported')
    p.add_argument('--one-seed', nargs='*', default=list(ONE_SEED),
                   help='race: methods run on the first seed only (lower '
                   f'bounds); default: {" ".join(ONE_SEED)}')
    p.add_argument('--variant', nargs='+', action='append', default=None,
                   metavar='ARG',
                   help='race: NAME BASE [KEY=VALUE ...]: BASE with config '
                   'overrides, raced as NAME (repeatable)')
    p.add_argument('--results-json', default=None,
                   help='race: also write race.json here (race.md and '
                   'race_accuracy.png beside it), e.g. '
                   'docs/results/race.json')
    p.add_argument('--plan', action='store_true',
                   help='race: print the planned runs and their hours; '
                   'run nothing')


def parse_options(items):
    """KEY=VALUE strings -> dict (values read as Python literals when they
    are, e.g. 0.5, True, (0.4, 1.0); else kept as strings)."""
    import ast
    out = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise ValueError(f'--cfg-options takes KEY=VALUE, got {item!r}')
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def main(argv=None):
    args = parse_args(argv)
    import shlex
    # quoted as typed (a --variant's option may hold spaces)
    command = 'python tools/benchmark.py ' + shlex.join(
        argv if argv is not None else sys.argv[1:])
    if args.protocol == 'plateau':
        from ssdkd_mm.experiments.plateau import run_plateau
        try:
            run_plateau(
                args.budget, seeds=args.seeds,
                fractions=args.plateau_fractions, method=args.method,
                reference=args.reference,
                check_plateau=not args.no_plateau_check,
                work_dir=args.work_dir or 'work_dirs/plateau',
                data_root=args.data_root, teacher_dir=args.teacher_dir,
                out=args.out, command=command, resume=not args.fresh,
                cfg_options={args.method: args.cfg_options}
                if args.cfg_options else None, label=args.label)
        except ValueError as e:
            sys.exit(f'error: {e}')
        return
    if args.protocol == 'race':
        from ssdkd_mm.experiments.race import run_race
        try:
            run_race(
                args.budget, seeds=args.seeds, methods=args.methods,
                variants=args.variant, one_seed=args.one_seed,
                default=args.default, grid=args.grid,
                work_dir=args.work_dir or ('work_dirs/race' if args.testbed
                                           == 'readme' else
                                           f'work_dirs/race_{args.testbed}'),
                data_root=args.data_root, teacher_dir=args.teacher_dir,
                testbed=args.testbed,
                results_json=args.results_json, command=command,
                resume=not args.fresh, plan_only=args.plan)
        except ValueError as e:
            sys.exit(f'error: {e}')
        return
    from ssdkd_mm.experiments.benchmark import run_benchmark
    try:
        run_benchmark(
            methods=args.methods or ['all'], seeds=args.seeds,
            budget_s=args.budget,
            points=args.points,
            work_dir=args.work_dir or 'work_dirs/benchmark',
            data_root=args.data_root, teacher_dir=args.teacher_dir,
            fractions=args.fractions, reference=args.reference,
            overhead=not args.no_overhead, docs=args.docs,
            command=command,
            resume=not args.fresh)
    except ValueError as e:
        sys.exit(f'error: {e}')


if __name__ == '__main__':
    main()
