"""tools/benchmark.py's pieces: the method table, configs fitted to a
budget, time-to-accuracy and aggregation, the report, and a tiny end-to-end
run on generated data."""
import json
import os.path as osp

import pytest
import torch
from _fmnist_fake import write_idx_set
from mmengine.config import ConfigDict
from mmrazor.registry import MODELS

from ssdkd_mm.experiments import benchmark as bm
from ssdkd_mm.experiments import demo, methods


def test_groups_and_aliases():
    assert bm.resolve_methods(['main']) == [
        'ssdkd', 'fast2', 'fast5', 'fast10', 'dafl', 'zskt', 'dfad']
    # the all-on ablation cell is SSD-KD itself and is not run twice
    assert bm.resolve_methods(['div+diff+prio', 'ssdkd']) == ['ssdkd']
    every = bm.resolve_methods(['all'])
    assert len(every) == 7 + 7 and len(set(every)) == len(every)
    # the published baselines take hours per run: a group of their own
    assert bm.resolve_methods(['published']) == [
        'deepinv', 'deepinv-fast', 'cmi', 'dfq']
    assert not set(every) & set(bm.GROUPS['published'])
    assert bm.resolve_methods(['ssdkd-schedule']) == [
        'fast2-ssdkd-schedule', 'fast5-ssdkd-schedule',
        'fast10-ssdkd-schedule']
    with pytest.raises(ValueError, match='unknown method .*choose from'):
        bm.resolve_methods(['fast3'])


def test_fast_and_ablation_switches():
    f5 = bm.METHODS['fast5-ssdkd-schedule']['options']
    assert f5['model.inversion.g_steps'] == 5
    assert f5['model.replay_buffer.unbounded'] is True
    assert f5['model.sampler.mode'] == 'uniform'
    assert f5['model.modulating.gamma'] == 0.0
    assert f5['model.modulating.diversity'] == 'none'
    # Fast-DFKD's meta learning rate: lr_g × g_steps
    assert f5['optim_wrapper.generator.optimizer.lr'] == pytest.approx(
        3e-3 * 5)
    assert bm.METHODS['div-diff-prio']['options'] == {
        **methods.NO_DIVERSITY, **methods.NO_DIFFICULTY}
    assert bm.METHODS['div-diff+prio']['options'] == methods.NO_DIVERSITY
    assert bm.METHODS['div+diff+unif']['options'] == methods.UNIFORM_SAMPLING
    # the ablation keeps SSD-KD's bounded buffer
    assert all('model.replay_buffer.unbounded' not in m['options']
               for m in bm.METHODS.values() if m.get('ablation'))


def test_switch_sets_are_defined_once():
    # each switch is one option of the algorithm
    assert methods.UNBOUNDED_POOL == {'model.replay_buffer.unbounded': True}
    assert methods.UNIFORM_SAMPLING == {'model.sampler.mode': 'uniform'}
    assert methods.NO_DIFFICULTY == {'model.modulating.gamma': 0.0}
    assert methods.NO_DIVERSITY == {'model.modulating.diversity': 'none'}
    assert methods.PHI_OFF == {**methods.NO_DIFFICULTY,
                               **methods.NO_DIVERSITY}
    assert methods.FAST_SWITCHES == {
        **methods.UNBOUNDED_POOL, **methods.UNIFORM_SAMPLING,
        **methods.PHI_OFF}
    # NOISE_INPUT is tested with the noise baseline, in test_synthesizers
    # the demo's baselines and the benchmark's Fast-k use them
    assert demo.VARIANTS == {'ssdkd': {}, 'noise': methods.NOISE_INPUT,
                             'fast2': methods.FAST_SWITCHES}
    assert bm.METHODS['fast2-ssdkd-schedule']['options'] == {
        **methods.FAST_SWITCHES,
        'model.inversion.g_steps': 2,
        'model.inversion.lr_g': 5e-3,
        'model.inversion.lr_z': 0.015,
        'optim_wrapper.generator.optimizer.lr': 5e-3 * 2}


@pytest.mark.parametrize('method', [
    'ssdkd', 'fast10', 'fast2-ssdkd-schedule', 'div-diff-unif', 'dafl',
    'zskt', 'dfad'])
def test_build_config_fits_the_budget_and_builds(method, tmp_path):
    cfg = bm.build_config(method, 'teacher.pth', 'data/x', budget_s=30,
                          points_s=[10, 20], seed=3,
                          work_dir=str(tmp_path))
    hooks = {h['type'].split('.')[-1]: h for h in cfg.custom_hooks}
    assert hooks['SSDKDTimeBudgetHook']['budget_s'] == 30
    assert hooks['SSDKDSnapshotHook']['times_s'] == [10, 20]
    assert cfg.default_hooks.checkpoint is None
    assert cfg.train_cfg.val_begin > cfg.train_cfg.max_iters  # no val
    assert cfg.randomness.seed == 3
    assert cfg.val_dataloader.dataset.data_root == 'data/x'
    end = cfg.train_cfg.max_iters
    assert all(s['end'] == end for s in cfg.param_scheduler.architecture)
    if bm.METHODS[method]['family'] == 'ssdkd':
        assert cfg.model.teacher_ckpt == 'teacher.pth'
        inv = next(h for h in cfg.custom_hooks
                   if h['type'].endswith('SSDKDInversionHook'))
        assert inv['eval_teacher'] is False
        # the switches are valid knobs of the algorithm: it builds
        model = ConfigDict(cfg.model)
        model.teacher_ckpt = None
        alg = MODELS.build(model)
        if method == 'fast10':
            assert alg.synthesizer.g_steps == 10 and alg.buffer.unbounded
            # the published epochs: one round per 400 student steps
            assert inv['synth_interval'] == 400
            assert cfg.model.kd.batch_size == \
                cfg.model.inversion.synth_batch_size
        if method == 'fast2-ssdkd-schedule':
            assert inv['synth_interval'] == 20  # the Fashion-MNIST config's
        if method == 'div-diff-unif':
            assert alg.modulating.is_identity
            assert alg.sampler.mode == 'uniform'
    else:
        assert cfg.model.teachers.res34.ckpt_path == 'teacher.pth'


def _rec(method, seed, t, top1, point=None):
    return dict(method=method, seed=seed, point_s=point, train_s=t,
                top1=top1, synth_time_s=t / 2, kd_time_s=t / 2,
                kd_steps=int(t), synthetic_images=int(10 * t), kd_batch=8,
                synthesis_rounds=1, iter=int(t), eval_s=0.1, budget_s=30)


def test_time_to_accuracy():
    recs = [_rec('a', 0, 10, 50, 10), _rec('a', 0, 20, 80, 20),
            _rec('a', 0, 30, 70)]
    assert bm.time_to_accuracy(recs, 60) == 20
    assert bm.time_to_accuracy(recs, 80) == 20
    assert bm.time_to_accuracy(recs, 81) is None


def test_summarize_means_stds_and_speedup():
    teacher = 100.0
    recs = []
    # reference: reaches 80 at 20 s (both seeds)
    for seed, finals in ((0, 84), (1, 86)):
        recs += [_rec('fast2', seed, 10, 50, 10), _rec('fast2', seed, 20,
                                                        81, 20),
                 _rec('fast2', seed, 30, finals)]
    # method: reaches 80 at 10 s (both seeds): 2x faster
    for seed, finals in ((0, 88), (1, 90)):
        recs += [_rec('ssdkd', seed, 10, 80, 10), _rec('ssdkd', seed, 20,
                                                        85, 20),
                 _rec('ssdkd', seed, 30, finals)]
    s = bm.summarize(recs, teacher, fractions=(0.8, 0.9))
    assert s['ssdkd']['top1'] == pytest.approx(89.0)
    assert s['ssdkd']['top1_std'] == pytest.approx(2 ** 0.5)
    assert s['ssdkd']['of_teacher'] == pytest.approx(0.89)
    assert s['ssdkd']['tta']['0.8']['mean_s'] == 10
    assert s['ssdkd']['tta_ratio_vs_fast2']['0.8'] == pytest.approx(2.0)
    assert s['fast2']['tta_ratio_vs_fast2']['0.8'] == pytest.approx(1.0)
    # 90 %: one ssdkd seed reaches it, fast2 never: no ratio
    t90 = s['ssdkd']['tta']['0.9']
    assert (t90['reached'], t90['runs'], t90['all_reached']) == (1, 2, False)
    assert s['ssdkd']['tta_ratio_vs_fast2']['0.9'] is None
    assert s['fast2']['tta']['0.9']['mean_s'] is None
    curve = s['ssdkd']['curve']
    assert [c['point_s'] for c in curve] == [10, 20, None]
    assert curve[0]['top1'] == 80 and curve[0]['n'] == 2


def test_lower_bounds_when_a_method_does_not_arrive():
    """Fast-2 never reaches 85 within its 30 s; SSD-KD does at 10 s on
    both seeds: time to accuracy "> 30" and a speed-up "≥ 30 / 10"."""
    recs = []
    for seed in (0, 1):
        recs += [_rec('fast2', seed, 10, 50, 10),
                 _rec('fast2', seed, 30 + seed, 80)]
        recs += [_rec('ssdkd', seed, 10, 86, 10), _rec('ssdkd', seed, 30,
                                                        88)]
        recs += [_rec('dfad', seed, 10, 40, 10), _rec('dfad', seed, 30, 50)]
    s = bm.summarize(recs, 100.0, fractions=(0.85, ))
    ref = s['fast2']['tta']['0.85']
    assert ref['mean_s'] is None and ref['lower_bound_s'] == 30
    assert s['ssdkd']['tta']['0.85']['lower_bound_s'] is None
    assert s['ssdkd']['tta_ratio_vs_fast2']['0.85'] is None
    assert s['ssdkd']['tta_ratio_bound_vs_fast2']['0.85'] == dict(
        kind='>=', value=pytest.approx(3.0))
    # neither arrived: no bound
    assert s['dfad']['tta_ratio_bound_vs_fast2']['0.85'] is None
    # the reference arrived and the method did not: an upper bound
    s2 = bm.summarize(recs, 100.0, fractions=(0.85, ), reference='ssdkd')
    assert s2['fast2']['tta_ratio_bound_vs_ssdkd']['0.85'] == dict(
        kind='<=', value=pytest.approx(10 / 30))
    result = dict(
        summary=s, teacher_top1=100.0,
        settings=dict(reference='fast2', budget_s=30, points_s=[10],
                      seeds=[0, 1], teacher='t', command='c'),
        machine=dict(processor='cpu', cpu_count=2, torch_threads=2, gpu=None,
                     torch='x', mmengine='x', mmrazor='x', platform='x'))
    table = bm.markdown(result)
    fast_row = [r for r in table.splitlines() if r.startswith('| Fast-2 (')]
    ssdkd_row = [r for r in table.splitlines() if 'SSD-KD' in r][0]
    assert '| > 30 |' in fast_row[0]
    assert '| ≥ 3.00× |' in ssdkd_row


def test_update_docs_replaces_only_the_section(tmp_path):
    doc = tmp_path / 'b.md'
    doc.write_text('# Title\n\nintro\n')
    bm.update_docs(str(doc), 'first\n')
    bm.update_docs(str(doc), 'second\n')
    text = doc.read_text()
    assert text.startswith('# Title\n\nintro\n')
    assert 'second' in text and 'first' not in text
    assert text.count(bm.BEGIN) == 1
    doc.write_text(text + '\nafter\n')
    bm.update_docs(str(doc), 'third\n')
    assert doc.read_text().endswith('after\n')


@pytest.mark.e2e
def test_benchmark_end_to_end_tiny(tmp_path):
    """Two methods (SSD-KD and mmrazor's DFAD), one seed, a 2-second budget,
    generated data and a random teacher: every output is written."""
    from ssdkd_mm.experiments.demo import TASKS, config_path
    from ssdkd_mm.engine.config import load_config
    data = write_idx_set(str(tmp_path / 'fmnist'), n_train=20, n_test=40)
    tdir = tmp_path / 'teacher'
    tdir.mkdir()
    cfg = load_config(config_path(TASKS['cls']['ssdkd_cfg']), log=False)
    torch.manual_seed(0)
    teacher = MODELS.build(cfg.model.teacher)
    torch.save(dict(state_dict=teacher.state_dict()), tdir / 'teacher.pth')
    (tdir / 'teacher.json').write_text(json.dumps(
        dict(top1=50.0, checkpoint=str(tdir / 'teacher.pth'))))
    docs = tmp_path / 'docs' / 'benchmarks.md'
    docs.parent.mkdir()
    out = tmp_path / 'bench'
    small = {
        'ssdkd': {'model.inversion.synth_batch_size': 8,
                  'model.kd.batch_size': 8,
                  'model.replay_buffer.capacity': 32},
        'mmrazor': {'model.batch_size': 8, 'model.student_iter': 1},
    }
    result = bm.run_benchmark(
        methods=['ssdkd', 'dfad'], seeds=[0], budget_s=2.0, points=[1.0],
        work_dir=str(out), data_root=data, teacher_dir=str(tdir),
        fractions=(0.5, ), overhead=False, docs=str(docs),
        prepare_data=False, cfg_options=small)
    # the reference (Fast-2) was added for the speed-ups
    assert set(result['summary']) == {'fast2', 'ssdkd', 'dfad'}
    for name in ('records.csv', 'records.jsonl', 'results.json',
                 'accuracy_vs_time.png', 'benchmark.md'):
        assert osp.getsize(out / name) > 0, name
    for s in result['summary'].values():
        assert 0 <= s['top1'] <= 100
        assert s['kd_batch'] == 8
    text = docs.read_text()
    assert bm.BEGIN in text and 'DFAD (mmrazor)' in text
    assert (docs.parent / 'benchmarks_accuracy.png').is_file()
    with open(out / 'records.jsonl') as f:
        n = len(f.readlines())
    # a second call reuses the finished runs: nothing is run again
    bm.run_benchmark(
        methods=['ssdkd', 'dfad'], seeds=[0], budget_s=2.0, points=[1.0],
        work_dir=str(out), data_root=data, teacher_dir=str(tdir),
        fractions=(0.5, ), overhead=False, prepare_data=False,
        cfg_options=small)
    with open(out / 'records.jsonl') as f:
        assert len(f.readlines()) == n


def test_apply_method_switches_ssdkd_configs_only():
    from mmengine.config import Config

    from conftest import ROOT
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/ssdkd/ssdkd_wrn40_2_wrn16_1_cifar10.py'))
    assert methods.SWITCHABLE == (
        'ssdkd', 'fast2', 'fast5', 'fast10', 'deepinv', 'deepinv-fast',
        'cmi', 'dfq', 'fast2-ssdkd-schedule',
        'fast5-ssdkd-schedule', 'fast10-ssdkd-schedule')
    methods.apply_method(cfg, 'ssdkd')  # the config as it is
    assert cfg.model.replay_buffer.get('unbounded', False) is False
    methods.apply_method(cfg, 'fast5')
    assert cfg.model.replay_buffer.unbounded is True
    assert cfg.model.sampler.mode == 'uniform'
    assert cfg.model.inversion.g_steps == 5
    assert cfg.optim_wrapper.generator.optimizer.lr == pytest.approx(0.015)
    with pytest.raises(ValueError, match='unknown method'):
        methods.apply_method(cfg, 'dafl')  # not a switch of SSD-KD
    teacher = Config.fromfile(
        osp.join(ROOT, 'configs/cifar/wrn40-2_cifar10.py'))
    with pytest.raises(ValueError, match='not one .*SSDKDDistillation'):
        methods.apply_method(teacher, 'fast2', 'wrn40-2_cifar10.py')


def test_train_tool_refuses_method_on_a_plain_config(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/train.py'),
         osp.join(ROOT, 'configs/cifar/wrn16-1_cifar10.py'), '--method',
         'fast2', '--work-dir', str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert proc.returncode != 0
    assert 'error: --method fast2 switches an SSD-KD config' in proc.stderr
    assert 'Traceback' not in proc.stderr
