"""The race protocol (ssdkd_mm/experiments/race.py, race_report.py): time to
90/95/98 % of the teacher with lower bounds, ratios on intervals, the JSON
schema, resumability (a stub runner), the command line, and a tiny real
run."""
import importlib.util
import json
import os.path as osp

import pytest

from ssdkd_mm.experiments import methods, race
from ssdkd_mm.experiments.race_report import fmt_ratio, fmt_time, markdown

TEACHER = 100.0  # targets 90 / 95 / 98


def _recs(method, seed, curve, budget=100.0):
    """Snapshot records of one run from [(train_s, top1), ...] (the last is
    the end of the run)."""
    out = []
    for i, (t, a) in enumerate(curve):
        out.append(dict(method=method, seed=seed, train_s=t, top1=a,
                        point_s=None if i == len(curve) - 1 else t,
                        kd_steps=int(t * 10), synthetic_images=int(t * 5),
                        synth_time_s=t / 4, kd_time_s=3 * t / 4, kd_batch=8,
                        budget_s=budget))
    return out


def test_grid_and_plan():
    assert race.grid_points(100) == pytest.approx(
        [5.0 * k for k in range(1, 20)])
    assert race.grid_points(60, 0.25) == pytest.approx([15, 30, 45])
    with pytest.raises(ValueError):
        race.grid_points(60, 1.0)
    plan = race.plan_runs(['ssdkd', 'dafl', 'fast2'], [0, 1], ['dafl'])
    # seeds outer (paired), the one-seed methods only on the first seed
    assert plan == [('ssdkd', 0), ('dafl', 0), ('fast2', 0), ('ssdkd', 1),
                    ('fast2', 1)]


def test_time_to_target_with_lower_bounds():
    curve = _recs('a', 0, [(10, 85), (20, 91), (30, 96), (40, 95.5)],
                  budget=40)
    # the first snapshot at or above the target; the end counts too
    assert race.run_times(curve, 90) == 20
    assert race.run_times(curve, 95) == 30
    assert race.run_times(curve, 98) == {'lower_bound': 40}
    # every seed arrived: mean ± std
    assert race.aggregate([20.0, 30.0]) == pytest.approx([25.0, 50 ** 0.5])
    # some seeds did not: the mean with them at their end time, a bound
    assert race.aggregate([20.0, {'lower_bound': 40.0}]) == dict(
        lower_bound=30.0, reached=1, of=2)
    assert race.aggregate([{'lower_bound': 40.0}, {'lower_bound': 42.0}]) \
        == dict(lower_bound=41.0, reached=0, of=2)
    assert race.aggregate([]) is None


def test_ratio_semantics():
    # both arrived: a number
    assert race.ratio([30.0, 1.0], [60.0, 2.0]) == pytest.approx(0.5)
    # the other side did not arrive (its time > 100): ratio < 30/100
    assert race.ratio([30.0, 1.0], {'lower_bound': 100.0}) == dict(
        upper_bound=pytest.approx(0.3))
    # the default did not arrive: ratio > 100/50
    assert race.ratio({'lower_bound': 100.0}, [50.0, 0.0]) == dict(
        lower_bound=pytest.approx(2.0))
    # neither arrived: nothing is known
    assert race.ratio({'lower_bound': 1.0}, {'lower_bound': 2.0}) is None
    assert race.ratio(None, [1.0, 0.0]) is None
    # the fastest of several: exact only when no bound can beat it
    assert race.fastest({'a': [50.0, 1], 'b': {'lower_bound': 100.0},
                         'c': [70.0, 2]}) == ('a', 50.0)
    # b may be faster than a (its time is above 40), or not: the fastest
    # time is in [40, 50]
    name, best = race.fastest({'a': [50.0, 1], 'b': {'lower_bound': 40.0}})
    assert (name, best) == ('b', {'lower_bound': 40.0, 'upper_bound': 50.0})
    assert race.ratio([20.0, 0], best) == dict(lower_bound=0.4,
                                               upper_bound=0.5)
    assert race.fastest({'b': {'lower_bound': 40.0}}) == (
        'b', {'lower_bound': 40.0})
    assert race.fastest({'a': [50.0, 1], 'b': {'lower_bound': 50.0}}) == (
        'a', 50.0)
    assert race.fastest({}) == (None, None)
    assert fmt_ratio(0.5) == '0.50×'
    assert fmt_ratio({'upper_bound': 0.3}) == '≤ 0.30×'
    assert fmt_ratio({'lower_bound': 2.0}) == '≥ 2.00×'
    assert fmt_time([25.0, 7.07]) == '25 ± 7'
    assert fmt_time(dict(lower_bound=30.0, reached=1, of=2)) == '≥ 30 (1/2)'
    assert fmt_time(dict(lower_bound=41.0, reached=0, of=2)) == '> 41'


def _field():
    """ssdkd reaches 98 at 40 s, fast2 at 80 s, fast5 never (100 s budget);
    the phi-off cell reaches it on one of two seeds."""
    recs = []
    for seed in (0, 1):
        recs += _recs('ssdkd', seed, [(20, 91), (40, 98 + seed), (60, 98.5),
                                      (100, 99)])
        recs += _recs('fast2', seed, [(20, 85), (40, 92), (80, 98),
                                      (100, 98.2)])
        recs += _recs('fast5', seed, [(20, 80), (40, 90), (80, 93),
                                      (100 + seed, 96)])
        recs += _recs('ssdkd-phi-off', seed,
                      [(20, 90), (60, 98 if seed else 97), (100, 97.5)])
    recs += _recs('dafl', 0, [(50, 20), (100, 30)])
    return recs


def test_summary_schema_and_ratios():
    s = race.summarize_race(_field(), TEACHER)
    assert s['protocol'] == 'race' and s['default'] == 'ssdkd'
    assert s['targets'] == pytest.approx({'90': 90, '95': 95, '98': 98})
    by = {m['name']: m for m in s['methods']}
    assert list(by) == ['ssdkd', 'fast2', 'fast5', 'ssdkd-phi-off', 'dafl']
    m = by['ssdkd']
    assert set(m) >= {'name', 'seeds', 'time_to_s', 'final_top1',
                      'budget_s', 'student_steps', 'synthetic_images'}
    assert m['seeds'] == [0, 1] and m['budget_s'] == 100
    assert m['time_to_s']['90'] == pytest.approx([20, 0])
    assert m['time_to_s']['98'] == pytest.approx([40, 0])
    assert m['final_top1'] == pytest.approx([99, 0])
    assert m['student_steps'] == 1000 and m['synthetic_images'] == 500
    assert m['curves']['0'][1] == [40, 98]
    # fast5 never reaches 98 (ends at 100 and 101 s)
    assert by['fast5']['time_to_s']['98'] == dict(lower_bound=100.5,
                                                  reached=0, of=2)
    assert by['ssdkd-phi-off']['time_to_s']['98'] == dict(
        lower_bound=80.0, reached=1, of=2)
    assert by['ssdkd-phi-off']['time_to_s_per_seed']['98'] == {
        '0': {'lower_bound': 100.0}, '1': 60.0}
    assert by['dafl']['seeds'] == [0]
    # the fastest published peer to 98 is fast2 (80 s): 40 / 80
    assert s['fastest_peer_98'] == 'fast2'
    assert s['ratios']['98']['peers']['fastest_exact'] is True
    assert s['ratios']['98']['ablation']['fastest_exact'] is False
    assert s['ratio_vs_fastest_peer_98'] == pytest.approx(0.5)
    # against fast5 (never arrived): an upper bound
    each = s['ratios']['98']['peers']['each']
    assert each['fast5']['ratio'] == dict(upper_bound=pytest.approx(
        40 / 100.5))
    assert each['fast2']['paired']['mean_std'] == pytest.approx([0.5, 0.0])
    # ablation: phi-off's mean is only bounded below (one seed arrived):
    # the default's ratio against it is an upper bound, the spread per seed
    assert s['fastest_ablation_98'] == 'ssdkd-phi-off'
    assert s['ratio_vs_ablation_98'] == dict(upper_bound=pytest.approx(0.5))
    paired = s['ratio_vs_ablation_98_paired']['ssdkd-phi-off']
    assert paired['per_seed'] == {'0': dict(upper_bound=pytest.approx(0.4)),
                                  '1': pytest.approx(40 / 60)}
    assert paired['mean_std'] is None
    json.dumps(s)  # serialisable as it is


def test_no_default_runs_no_ratios():
    s = race.summarize_race(_recs('fast2', 0, [(10, 99)]), TEACHER)
    assert s['ratios'] == {} and 'ratio_vs_fastest_peer_98' not in s


class _Stub:
    """Stands in for run_method: records on the grid, counts its calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, method, seed, ckpt, data_root, budget, points,
                 work_dir, cfg_options=None):
        self.calls.append((method, seed, cfg_options))
        top = 99.0 if method == 'ssdkd' else 97.0
        curve = [(p, top * p / budget) for p in points] + [(budget, top)]
        return _recs(method, seed, curve, budget)


def _teacher(tmp_path):
    tdir = tmp_path / 'teacher'
    tdir.mkdir()
    (tdir / 'teacher.pth').write_bytes(b'x')
    (tdir / 'teacher.json').write_text(json.dumps(
        dict(top1=TEACHER, checkpoint=str(tdir / 'teacher.pth'))))
    return str(tdir)


def test_race_is_resumable_and_writes_its_outputs(tmp_path):
    stub = _Stub()
    work = tmp_path / 'race'
    kw = dict(seeds=[0, 1], methods=['ssdkd', 'fast2', 'dafl'],
              variants={'ssdkd-mix': dict(base='ssdkd',
                                          options={'model.kd.tau': 4.0})},
              one_seed=['dafl'], grid=0.25, work_dir=str(work),
              data_root='unused', teacher_dir=_teacher(tmp_path),
              prepare_data=False, run_fn=stub,
              cfg_options={'ssdkd': {'model.kd.batch_size': 8}})
    res = race.run_race(
        100.0, results_json=str(tmp_path / 'docs' / 'race.json'), **kw)
    assert [(m, s) for m, s, _ in stub.calls] == [
        ('ssdkd', 0), ('fast2', 0), ('dafl', 0), ('ssdkd', 0),
        ('ssdkd', 1), ('fast2', 1), ('ssdkd', 1)]
    # the variant: its base with the family's and its own options
    assert stub.calls[3][2] == {'model.kd.batch_size': 8,
                                'model.kd.tau': 4.0}
    assert stub.calls[2][2] is None  # mmrazor: no overrides given
    for name in ('records.jsonl', 'race.json', 'race.md',
                 'race_accuracy.png'):
        assert osp.getsize(work / name) > 0, name
    for name in ('race.json', 'race.md', 'race_accuracy.png'):
        assert (tmp_path / 'docs' / name).is_file(), name
    on_disk = json.loads((tmp_path / 'docs' / 'race.json').read_text())
    for key in ('protocol', 'machine', 'cpu_capability', 'testbed', 'seeds',
                'teacher_top1', 'methods', 'default',
                'ratio_vs_fastest_peer_98', 'ratio_vs_ablation_98',
                'schedule', 'grid_s'):
        assert key in on_disk, key
    assert on_disk['seeds'] == [0, 1] and on_disk['grid_s'] == [25, 50, 75]
    assert [m['name'] for m in on_disk['methods']] == [
        'ssdkd', 'fast2', 'dafl', 'ssdkd-mix']
    assert res['ratio_vs_fastest_peer_98'] == dict(upper_bound=1.0)
    assert res['ratio_vs_ablation_98'] is None  # no ablation cell raced
    assert 'ssdkd (default)' in (work / 'race.md').read_text()
    n = len((work / 'records.jsonl').read_text().splitlines())
    assert n == 7 * 4
    # a second call runs nothing and gives the same summary
    again = race.run_race(100.0, **kw)
    assert len(stub.calls) == 7
    assert again['methods'] == res['methods']
    # a variant renamed to other options is refused, not mixed in
    bad = dict(kw, variants={'ssdkd-mix': dict(
        base='ssdkd', options={'model.kd.tau': 1.0})})
    with pytest.raises(ValueError, match='ran with options'):
        race.run_race(100.0, **bad)
    # runs on another grid or from another machine are refused
    with pytest.raises(ValueError, match='another machine or grid'):
        race.run_race(100.0, **dict(kw, grid=0.5))
    recs = (work / 'records.jsonl').read_text().replace(
        '"cpu_capability": "', '"cpu_capability": "OTHER')
    (work / 'records.jsonl').write_text(recs)
    with pytest.raises(ValueError, match='another machine or grid'):
        race.run_race(100.0, **kw)


def test_plan_only_runs_nothing(tmp_path):
    stub = _Stub()
    out = race.run_race(50.0, seeds=[0, 1], methods=['race'],
                        work_dir=str(tmp_path), run_fn=stub, plan_only=True)
    assert stub.calls == [] and out['plan'] == out['todo']
    names = [m for m, _ in out['plan']]
    assert names[:5] == ['ssdkd', 'ssdkd-phi-off', 'ssdkd-delta-off',
                         'ssdkd-unbounded', 'fast2-ssdkd-schedule']
    assert ('dafl', 1) not in out['plan'] and ('fast2', 1) in out['plan']
    with pytest.raises(ValueError, match='default'):
        race.run_race(50.0, methods=['fast2'], work_dir=str(tmp_path),
                      plan_only=True)
    with pytest.raises(ValueError, match='shadow'):
        race.run_race(50.0, variants={'fast2': dict(base='ssdkd')},
                      work_dir=str(tmp_path), plan_only=True)


def test_race_ablation_cells_are_single_switches(tmp_path):
    from ssdkd_mm.experiments.runs import build_config
    assert methods.GROUPS['race-ablation'] == [
        'ssdkd-phi-off', 'ssdkd-delta-off', 'ssdkd-unbounded',
        'fast2-ssdkd-schedule']
    assert methods.METHODS['ssdkd-phi-off']['options'] == methods.PHI_OFF
    assert methods.METHODS['ssdkd-delta-off']['options'] == \
        methods.UNIFORM_SAMPLING
    assert methods.METHODS['ssdkd-unbounded']['options'] == \
        methods.UNBOUNDED_POOL
    # not part of the grid's 'all', nor of train.py's --method
    assert 'ssdkd-phi-off' not in methods.resolve_methods(['all'])
    assert 'ssdkd-phi-off' not in methods.SWITCHABLE
    cfg = build_config('ssdkd-unbounded', 't.pth', 'data/x', 30, [10], 0,
                       str(tmp_path))
    assert cfg.model.replay_buffer.unbounded is True
    assert cfg.model.sampler.get('mode', 'proportional') != 'uniform'


def _tool():
    from conftest import ROOT
    spec = importlib.util.spec_from_file_location(
        'benchmark_tool', osp.join(ROOT, 'tools', 'benchmark.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_command_line_of_the_race():
    tool = _tool()
    args = tool.parse_args([
        '--protocol', 'race', '--budget', '600', '--seeds', '0', '1', '2',
        '--results-json', 'docs/results/race.json', '--variant',
        'ssdkd-mixup', 'ssdkd', "model.kd.mix={'mode': 'mixup'}",
        '--variant', 'fast2-x', 'fast2'])
    assert args.protocol == 'race' and args.methods is None
    assert args.grid == 0.05 and args.default == 'ssdkd'
    assert args.results_json == 'docs/results/race.json'
    assert args.one_seed == list(race.ONE_SEED)
    assert args.variant == {
        'ssdkd-mixup': dict(base='ssdkd',
                            options={'model.kd.mix': {'mode': 'mixup'}}),
        'fast2-x': dict(base='fast2', options={})}
    for bad in (['--grid', '1.5'], ['--variant', 'only-a-name'],
                ['--variant', 'a', 'ssdkd', 'novalue']):
        with pytest.raises(SystemExit):
            tool.parse_args(['--protocol', 'race'] + bad)
    # the grid's default field is unchanged
    assert tool.parse_args([]).protocol == 'grid'


def test_tool_plan_prints_the_runs(tmp_path, capsys):
    _tool().main(['--protocol', 'race', '--budget', '10', '--seeds', '0',
                  '--methods', 'ssdkd', 'fast2', '--plan', '--work-dir',
                  str(tmp_path)])
    out = capsys.readouterr().out
    assert '2 runs of 10 s, 2 to go' in out and 'fast2, seed 0' in out
    assert not (tmp_path / 'race.json').exists()


def test_markdown_states_the_schedule():
    s = race.summarize_race(_field(), TEACHER)
    s.update(machine='cpu', cpu_capability='AVX2', testbed='t', seeds=[0, 1],
             budget_s=100.0, grid_s=[5.0], one_seed=['dafl'],
             schedule=race.SCHEDULE, command='c')
    text = markdown(s)
    assert '| ssdkd (default) | 2 | 20 ± 0 / 40 ± 0 / 40 ± 0 |' in text
    assert '> 100' in text and '≥ 80 (1/2)' in text
    assert ("**98 %**, ssdkd's time: against the fastest published peer "
            '(fast2) 0.50×; against its fastest ablation cell '
            '(ssdkd-phi-off, fastest by lower bound) ≤ 0.50×; each cell: '
            'ssdkd-phi-off ≤ 0.50× (per seed 0: ≤ 0.40×, 1: 0.67×).') in text
    assert 'upper bound' in race.SCHEDULE and 'SSDKDTimeBudgetHook' in text


@pytest.mark.e2e
def test_race_end_to_end_tiny(tmp_path):
    """SSD-KD and its phi-off cell, one seed, a 2-second budget, generated
    data and a random teacher, through the real runner: every snapshot of
    the grid is evaluated and the outputs are written."""
    import torch
    from _fmnist_fake import write_idx_set
    from mmrazor.registry import MODELS

    from ssdkd_mm.engine.config import load_config
    from ssdkd_mm.experiments.demo import TASKS, config_path
    data = write_idx_set(str(tmp_path / 'fmnist'), n_train=20, n_test=40)
    tdir = tmp_path / 'teacher'
    tdir.mkdir()
    cfg = load_config(config_path(TASKS['cls']['ssdkd_cfg']), log=False)
    torch.manual_seed(0)
    teacher = MODELS.build(cfg.model.teacher)
    torch.save(dict(state_dict=teacher.state_dict()), tdir / 'teacher.pth')
    (tdir / 'teacher.json').write_text(json.dumps(
        dict(top1=50.0, checkpoint=str(tdir / 'teacher.pth'))))
    small = {'ssdkd': {'model.inversion.synth_batch_size': 8,
                       'model.kd.batch_size': 8,
                       'model.replay_buffer.capacity': 32}}
    res = race.run_race(
        2.0, seeds=[0], methods=['ssdkd', 'ssdkd-phi-off'], grid=0.5,
        work_dir=str(tmp_path / 'race'), data_root=data,
        teacher_dir=str(tdir), prepare_data=False, cfg_options=small)
    assert [m['name'] for m in res['methods']] == ['ssdkd', 'ssdkd-phi-off']
    for m in res['methods']:
        assert len(m['curves']['0']) == 2  # 1 s and the end
        assert 0 <= m['final_top1'][0] <= 100 and m['student_steps'] >= 0
    assert res['grid_s'] == [1.0]
    assert (tmp_path / 'race' / 'race_accuracy.png').is_file()
