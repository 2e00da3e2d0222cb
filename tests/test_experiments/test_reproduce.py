"""tools/reproduce_paper.py: refuses missing CIFAR / teachers, runs the
chosen pairs with the community teachers (converted on the way), keeps
finished runs, resumes interrupted ones, writes the table."""
import glob
import json
import os
import os.path as osp

import pytest
import torch
from _cifar_fake import TINY_RUN, write_cifar
from _community_nets import community_state_dict
from mmengine.config import Config

from ssdkd_mm.experiments import reproduce as rp
from ssdkd_mm.experiments.paper import PAIRS, published


def _tool_main():
    import importlib.util

    from conftest import ROOT
    spec = importlib.util.spec_from_file_location(
        'reproduce_paper', osp.join(ROOT, 'tools/reproduce_paper.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def test_refuses_without_cifar_or_teachers(tmp_path, capsys):
    main = _tool_main()
    rc = main(['--data-root', str(tmp_path / 'data'), '--teachers',
               str(tmp_path / 'teachers'), '--pairs', 'vgg11_resnet18',
               '--datasets', 'cifar10', '--dry-run'])
    err = capsys.readouterr().err
    assert rc == 1 and 'Traceback' not in err
    assert 'CIFAR10 is incomplete' in err
    assert 'cifar10_vgg11.pth is missing' in err
    # every missing input is listed at once
    rc = main(['--data-root', str(tmp_path), '--teachers', str(tmp_path),
               '--datasets', 'cifar10', 'cifar100'])
    err = capsys.readouterr().err
    assert rc == 1
    for name in ('cifar10_resnet34', 'cifar100_vgg11', 'cifar100_wrn40_2'):
        assert f'{name}.pth is missing' in err
    with pytest.raises(rp.ReproduceError, match='--pairs wrn28_10'):
        rp.resolve_selection(['wrn28_10'], ['cifar10'], ['ssdkd'])


def test_markdown_sets_ours_beside_the_published_row():
    r = dict(pair='wrn40_2_wrn16_1', dataset='cifar100', method='fast2',
             label='Fast-2', top1=40.0, hours=0.5, device='GPU X')
    table = rp.markdown([r])
    pub = published('cifar100', 'wrn40_2_wrn16_1')
    row = [line for line in table.splitlines() if 'WRN-16-1' in line][0]
    assert '| 40.00 | — | 0.50 | GPU X | 75.83 | 41.77 |' in row
    r['best_top1'] = 41.5
    row = [line for line in rp.markdown([r]).splitlines()
           if 'WRN-16-1' in line][0]
    assert '| 40.00 | 41.50 | 0.50 |' in row
    # where the settings come from is stated with the numbers
    assert 'published: Fast-DFKD recipe' in rp.markdown([r])
    assert 'ours:' in rp.markdown([dict(r, method='ssdkd')])
    assert f"{pub['student_real']:.2f}" in row


@pytest.mark.e2e
def test_runs_resumes_and_keeps_finished_runs(tmp_path, monkeypatch):
    from mmpretrain.datasets import CIFAR10
    monkeypatch.setattr(CIFAR10, '_check_integrity', lambda self: True)
    data = tmp_path / 'data'
    write_cifar(str(data / 'cifar10'), 'cifar10')
    teachers = tmp_path / 'pretrained'
    teachers.mkdir()
    torch.save({'state_dict': community_state_dict('wrn40_2')},
               str(teachers / 'cifar10_wrn40_2.pth'))
    work = str(tmp_path / 'work')
    small = {
        **TINY_RUN,
        'val_dataloader.num_workers': 0,
        'val_dataloader.persistent_workers': False,
        'test_dataloader.num_workers': 0,
        'test_dataloader.persistent_workers': False,
    }
    args = dict(data_root=str(data), teachers=str(teachers),
                pairs=['wrn40_2_wrn16_1'], datasets=['cifar10'],
                work_dir=work, cfg_options=small)
    out = rp.reproduce(methods=['ssdkd', 'fast2'], **args)
    res = {r['method']: r for r in out['results']}
    assert set(res) == {'ssdkd', 'fast2'}
    from ssdkd_mm.experiments.methods import FAST_SWITCHES
    for method, r in res.items():
        assert r['hours'] > 0 and r['teacher_top1'] is not None
        # validated once in the loop (iter 3) and once after: best >= final
        assert r['best_top1'] >= r['top1']
        assert r['student_steps'] == 3 and r['resumed_from'] is None
        run = rp.run_dir(work, 'wrn40_2_wrn16_1', 'cifar10', method)
        # top1 is the final evaluation the run logged, not any number
        logged = [json.loads(line) for line in open(glob.glob(osp.join(
            run, '*', 'vis_data', 'scalars.json'))[-1])]
        final = [s['accuracy/top1'] for s in logged if 'accuracy/top1' in s]
        assert r['top1'] == pytest.approx(final[-1])
        # the run's own config carries Fast-2's switches, SSD-KD's not
        (dumped, ) = glob.glob(osp.join(run, '*.py'))
        cfg = Config.fromfile(dumped)
        for key, value in FAST_SWITCHES.items():
            node = cfg
            for part in key.split('.'):
                node = node.get(part) if node is not None else None
            assert (node == value) == (method == 'fast2'), (method, key)
    assert osp.isfile(osp.join(work, 'teachers',
                               'cifar10_wrn40_2_mmpretrain.pth'))
    with open(osp.join(work, 'paper_table.md')) as f:
        table = f.read()
    assert PAIRS['wrn40_2_wrn16_1']['label'] in table and 'Fast-2' in table
    with open(osp.join(work, 'paper_results.json')) as f:
        assert len(json.load(f)['results']) == 2

    # a rerun reads the finished runs back and trains nothing
    def no_training(*a, **k):
        raise AssertionError('a finished run was trained again')
    monkeypatch.setattr(rp, 'run_one', no_training)
    again = rp.reproduce(methods=['ssdkd', 'fast2'], **args)
    assert again['results'] == out['results']
    monkeypatch.undo()
    monkeypatch.setattr(CIFAR10, '_check_integrity', lambda self: True)

    # an interrupted run (checkpoint, no result) resumes from its checkpoint
    fast_dir = rp.run_dir(work, 'wrn40_2_wrn16_1', 'cifar10', 'fast2')
    os.remove(osp.join(fast_dir, rp.RESULT))
    plan = rp.reproduce(methods=['ssdkd', 'fast2'], dry_run=True, **args)
    assert [j['done'] for j in plan['planned']] == [True, False]
    out = rp.reproduce(methods=['fast2'], **args)
    (r, ) = out['results']
    assert r['resumed_from'] and r['resumed_from'].endswith('iter_3.pth')
    # the clock carries on from the value saved in the resumed checkpoint
    ckpt = torch.load(r['resumed_from'], weights_only=False)
    assert r['hours'] * 3600 >= ckpt[rp.CLOCK_KEY] > 0
    assert r['best_top1'] >= r['top1']


@pytest.mark.parametrize('dataset,removed', [
    ('cifar10', 'data_batch_3'), ('cifar10', 'batches.meta'),
    ('cifar100', 'train')])
def test_refuses_a_missing_train_split_or_meta_file(tmp_path, dataset,
                                                    removed):
    """mmpretrain md5-checks the train list too and downloads what is
    missing: the refusal must name every file it would check."""
    data = tmp_path / 'data'
    write_cifar(str(data / dataset), dataset)
    teachers = tmp_path / 't'
    teachers.mkdir()
    torch.save({}, str(teachers / f'{dataset}_wrn40_2.pth'))
    args = (str(data), str(teachers), ['wrn40_2_wrn16_1'], [dataset])
    rp.check_inputs(*args)  # complete: accepted
    folder = 'cifar-10-batches-py' if dataset == 'cifar10' \
        else 'cifar-100-python'
    os.remove(data / dataset / folder / removed)
    with pytest.raises(rp.ReproduceError, match=f'incomplete: no .*{removed}'):
        rp.check_inputs(*args)


def test_cifar_files_are_those_mmpretrain_checks():
    from mmpretrain.datasets import CIFAR10
    files = [osp.basename(f) for f in rp.cifar_files('cifar10')]
    assert files == [f'data_batch_{i}' for i in range(1, 6)] + [
        'test_batch', 'batches.meta']
    assert len(CIFAR10.train_list) == 5
    assert [osp.basename(f) for f in rp.cifar_files('cifar100')] == [
        'train', 'test', 'meta']


def test_a_cuda_error_keeps_its_traceback(tmp_path, monkeypatch):
    def cuda_fails(*a, **k):
        raise RuntimeError('CUDA error: an illegal memory access')
    monkeypatch.setattr(rp, 'reproduce', cuda_fails)
    main = _tool_main()
    with pytest.raises(RuntimeError, match='CUDA error'):
        main(['--data-root', str(tmp_path), '--teachers', str(tmp_path)])


def test_the_clock_counts_rerun_iterations_once(tmp_path, monkeypatch):
    """A resumed run starts from the seconds saved in its checkpoint, not
    from the later ``train_seconds.json``: the iterations after the
    checkpoint are run again and must be counted once."""
    now = [0.0]
    monkeypatch.setattr(rp.time, 'perf_counter', lambda: now[0])
    clock = rp._TrainClockHook(str(tmp_path), interval=1)
    clock.before_train(None)
    now[0] = 100.0  # checkpoint at 100 s of training
    ckpt = {}
    clock.before_save_checkpoint(None, ckpt)
    clock.after_val_epoch(None, {'accuracy/top1': 30.0})
    now[0] = 250.0  # 150 s more, then a crash: lost, run again
    clock.save()
    with open(tmp_path / 'train_seconds.json') as f:
        assert json.load(f)['train_s'] == 250.0
    assert ckpt[rp.CLOCK_KEY] == 100.0
    resumed = rp._TrainClockHook(str(tmp_path))
    resumed.after_load_checkpoint(None, ckpt)
    resumed.before_train(None)
    now[0] = 400.0  # the 150 s again
    assert resumed.seconds() == 250.0
    assert resumed.best is None  # saved before that validation
    resumed.update_best(20.0)
    resumed.update_best(25.0)
    assert resumed.best == 25.0
