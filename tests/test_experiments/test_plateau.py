"""The plateau protocol's arithmetic and its command line."""
import pytest

from ssdkd_mm.experiments.plateau import markdown, summarize_plateau, time_to_reach


def test_time_to_reach_interpolates_between_budgets():
    assert time_to_reach([150, 300, 600], [80, 86, 90], 88) == \
        pytest.approx(450)
    assert time_to_reach([150, 300, 600], [89, 90, 91], 88) == 150
    assert time_to_reach([150, 300, 600], [80, 84, 87], 88) is None
    assert time_to_reach([], [], 1) is None


def _rec(method, seed, budget, top1, steps=100):
    return dict(method=method, seed=seed, budget_s=budget, top1=top1,
                kd_steps=steps)


def test_summary_paired_over_seeds():
    recs = [_rec('fast2', 0, 600, 88.0), _rec('fast2', 1, 600, 90.0),
            _rec('fast2', 0, 1200, 88.4), _rec('fast2', 1, 1200, 90.2)]
    for seed, accs in ((0, (84, 88, 89)), (1, (86, 89, 91))):
        for b, a in zip((150, 300, 600), accs):
            recs.append(_rec('ssdkd', seed, b, float(a), steps=b))
    s = summarize_plateau(recs, 600, [0, 1])
    assert s['protocol'] == 'plateau' and s['seeds'] == [0, 1]
    assert s['reference']['top1_mean'] == pytest.approx(89.0)
    assert s['reference']['plateau'] is True  # 89.3 vs 89.0
    assert s['ssdkd']['budgets_s'] == [150, 300, 600]
    assert s['ssdkd']['top1_mean'] == pytest.approx([85, 88.5, 90])
    # mean curve reaches 89.0 between 300 (88.5) and 600 (90): 400 s
    assert s['time_to_reference_s'] == pytest.approx(400)
    assert s['ratio'] == pytest.approx(400 / 600)
    # seed 0 reaches 88 at 300 s, seed 1 reaches 90 at 450 s
    assert s['paired_ratio']['mean'] == pytest.approx((0.5 + 0.75) / 2)
    assert s['paired_ratio']['reached'] == 2
    assert s['at_t_delta'] == pytest.approx(1.0)
    assert s['curves']['ssdkd'][0] == (150, 150, 84.0, 0)
    assert 'ratio 0.67' in markdown(s)


def test_summary_when_the_reference_is_not_reached():
    recs = [_rec('fast2', 0, 600, 90.0), _rec('ssdkd', 0, 600, 85.0)]
    s = summarize_plateau(recs, 600, [0])
    assert s['time_to_reference_s'] is None and s['ratio'] is None
    assert s['reference']['plateau'] is None  # no 2T run
    assert 'not reached' in markdown(s)


def test_command_line_of_the_protocol():
    import importlib.util
    import os.path as osp

    from conftest import ROOT
    spec = importlib.util.spec_from_file_location(
        'benchmark_tool', osp.join(ROOT, 'tools', 'benchmark.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    args = tool.parse_args([
        '--protocol', 'plateau', '--budget', '600', '--cfg-options',
        'model.sampler.uniform_mix=0.5', 'model.task=cls'])
    assert args.protocol == 'plateau' and args.plateau_fractions == [
        0.25, 0.5, 1.0]
    assert args.cfg_options == {'model.sampler.uniform_mix': 0.5,
                                'model.task': 'cls'}
    with pytest.raises(SystemExit):
        tool.parse_args(['--protocol', 'plateau', '--cfg-options', 'x'])
