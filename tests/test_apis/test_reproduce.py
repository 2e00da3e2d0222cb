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

from ssdkd_mm.apis import reproduce as rp
from ssdkd_mm.apis.paper import PAIRS, published


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
    assert 'CIFAR10 is missing' in err
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
    assert '| 40.00 | 0.50 | GPU X | 75.83 | 41.77 |' in row
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
    from ssdkd_mm.apis.methods import FAST_SWITCHES
    for method, r in res.items():
        assert r['hours'] > 0 and r['teacher_top1'] is not None
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
    assert r['hours'] >= res['fast2']['hours']  # the clock carries on
