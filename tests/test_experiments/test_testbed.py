"""The race's testbeds (ssdkd_mm/experiments/testbeds.py): the "small"
pair's configs differ from the README pair's only in sizes and build (SSD-KD,
its teacher, mmrazor's DAFL / ZSKT / DFAD with their recorders), every
method finds its config there, the race runs on it (tiny real run), and a
race or a teacher cache of another testbed is refused."""
import glob
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmrazor.registry import MODELS

from ssdkd_mm.engine.config import load_config
from ssdkd_mm.experiments import race
from ssdkd_mm.experiments.common import config_path
from ssdkd_mm.experiments.methods import METHODS
from ssdkd_mm.experiments.testbeds import TESTBEDS, get_testbed, \
    method_config

SMALL, README = TESTBEDS['small'], TESTBEDS['readme']


def _without(d, *keys):
    d = dict(d)
    for k in keys:
        d.pop(k, None)
    return d


def test_small_ssdkd_config_changes_only_sizes():
    small = Config.fromfile(config_path(SMALL['ssdkd_cfg']))
    ref = Config.fromfile(config_path(README['ssdkd_cfg']))
    # everything but the model is the README pair's
    a = _without(small.to_dict(), 'model', 'resnet34_fmnist_small',
                 'resnet18_fmnist_small')
    assert a == _without(ref.to_dict(), 'model')
    # in the model: the two networks and the generator's width
    assert _without(small.model.to_dict(), 'architecture', 'teacher',
                    'teacher_ckpt', 'generator') == _without(
                        ref.model.to_dict(), 'architecture', 'teacher',
                        'teacher_ckpt', 'generator')
    assert small.model.generator == dict(ref.model.generator, ngf=16)
    for key, depth in (('teacher', 34), ('architecture', 18)):
        bb = small.model[key].backbone
        assert (bb.depth, bb.base_channels, bb.stem_channels,
                tuple(bb.strides)) == (depth, 8, 8, (2, 2, 2, 2))
        assert small.model[key].head.in_channels == 64
        assert bb == dict(ref.model[key].backbone, base_channels=8,
                          stem_channels=8, strides=(2, 2, 2, 2))
    cfg = load_config(config_path(SMALL['ssdkd_cfg']), log=False)
    cfg.model.teacher_ckpt = None
    alg = MODELS.build(cfg.model)
    n_t = sum(p.numel() for p in alg.teacher.parameters())
    n_s = sum(p.numel() for p in alg.student.parameters())
    assert 0.3e6 < n_t < 0.4e6 and 0.1e6 < n_s < 0.2e6 and n_s < n_t
    with torch.no_grad():
        assert alg.teacher(torch.zeros(2, 1, 28, 28),
                           mode='tensor').shape == (2, 10)


def test_small_teacher_config_is_the_readme_recipe():
    small = Config.fromfile(config_path(SMALL['teacher_cfg']))
    ref = Config.fromfile(config_path(README['teacher_cfg']))
    ssdkd = Config.fromfile(config_path(SMALL['ssdkd_cfg']))
    assert small.model == ssdkd.model.teacher  # the teacher distilled
    for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                'train_dataloader', 'val_dataloader'):
        assert small[key] == ref[key], key


@pytest.mark.parametrize('method', ['dafl', 'zskt', 'dfad'])
def test_mmrazor_peers_build_on_the_small_testbed(method, tmp_path):
    path = config_path(method_config(method, 'small'))
    assert path.endswith(f'{method}_resnet34_resnet18_fmnist_small.py')
    cfg = load_config(path, log=False)
    ref = load_config(config_path(METHODS[method]['config']), log=False)
    t = cfg.model.teachers.res34
    assert t.build_cfg.backbone.base_channels == 8
    assert cfg.model.architecture.backbone.base_channels == 8
    assert cfg.model.generator == dict(ref.model.generator,
                                       hidden_channels=64)
    # the losses and recorders are the README pair's (same layer names)
    assert cfg.model.distiller == ref.model.distiller
    # the small teacher's checkpoint loads into it
    teacher = MODELS.build(
        Config.fromfile(config_path(SMALL['teacher_cfg'])).model)
    torch.save(dict(state_dict=teacher.state_dict()), tmp_path / 't.pth')
    t.ckpt_path = str(tmp_path / 't.pth')
    alg = MODELS.build(cfg.model)  # recorders resolve, e.g. layer3.5.relu
    with torch.no_grad():
        out = alg.student(torch.zeros(2, 1, 28, 28), mode='tensor')
    assert out.shape == (2, 10)


def test_every_method_has_a_config_on_every_testbed(tmp_path):
    from ssdkd_mm.experiments.runs import build_config
    for name in TESTBEDS:
        for method in METHODS:
            assert osp.isfile(config_path(method_config(method, name)))
    cfg = build_config('fast2', 't.pth', 'data/x', 30, [10], 0,
                       str(tmp_path), testbed='small')
    assert cfg.model.teacher.backbone.base_channels == 8
    assert cfg.model.replay_buffer.unbounded is True  # fast2's switches
    cfg = build_config('zskt', 't.pth', 'data/x', 30, [10], 0,
                       str(tmp_path), testbed='small')
    assert cfg.model.teachers.res34.ckpt_path == 't.pth'
    assert cfg.model.architecture.backbone.base_channels == 8
    with pytest.raises(ValueError, match='testbed'):
        get_testbed('tiny')


def _teacher(tmp_path, config=None, name='teacher'):
    tdir = tmp_path / name
    tdir.mkdir()
    (tdir / 'teacher.pth').write_bytes(b'x')
    info = dict(top1=100.0, checkpoint=str(tdir / 'teacher.pth'))
    if config:
        info['config'] = config
    (tdir / 'teacher.json').write_text(json.dumps(info))
    return str(tdir)


def _stub(calls):
    def run(method, seed, ckpt, data_root, budget, points, work_dir,
            cfg_options=None):
        calls.append((method, seed))
        return [dict(seed=seed, train_s=t, top1=99.0, budget_s=budget,
                     kd_steps=1,
                     synthetic_images=1, point_s=t)
                for t in list(points) + [budget]]
    return run


def test_race_refuses_records_and_teachers_of_another_testbed(tmp_path):
    calls = []
    work = str(tmp_path / 'race')
    kw = dict(seeds=[0], methods=['ssdkd'], grid=0.5, work_dir=work,
              data_root='unused', prepare_data=False, run_fn=_stub(calls))
    res = race.run_race(10.0, testbed='small',
                        teacher_dir=_teacher(tmp_path, SMALL['teacher_cfg']),
                        **kw)
    assert res['testbed'] == 'small' and 'base 8' in res['testbed_pair']
    assert 'testbed small (fmnist-resnet34-resnet18-small: ' in open(
        osp.join(work, 'race.md')).read()
    recs = [json.loads(x) for x in open(osp.join(work, 'records.jsonl'))]
    assert {r['testbed'] for r in recs} == {'small'}
    readme_teacher = _teacher(tmp_path, name='readme_teacher')
    with pytest.raises(ValueError, match="'small' testbed"):
        race.run_race(10.0, testbed='readme', teacher_dir=readme_teacher,
                      **kw)
    assert calls == [('ssdkd', 0)]
    # records without the field ran on the README's pair
    with open(osp.join(work, 'records.jsonl'), 'w') as f:
        for r in recs:
            r.pop('testbed')
            f.write(json.dumps(r) + '\n')
    with pytest.raises(ValueError, match="'readme' testbed"):
        race.run_race(10.0, testbed='small', teacher_dir=readme_teacher,
                      **kw)
    # a teacher cache of the README's pair (teacher.json without a config)
    # is not reused for the small testbed
    with pytest.raises(ValueError, match='holds a teacher'):
        race.run_race(10.0, testbed='small', teacher_dir=readme_teacher,
                      **dict(kw, work_dir=str(tmp_path / 'race2')))


def test_command_line_testbed():
    from test_race import _tool
    tool = _tool()
    args = tool.parse_args(['--protocol', 'race', '--testbed', 'small'])
    assert args.testbed == 'small'
    assert args.teacher_dir == 'work_dirs/race_small/teacher'
    assert tool.parse_args(['--protocol', 'race']).teacher_dir == \
        'work_dirs/demo/teacher'
    assert tool.parse_args([]).teacher_dir == 'work_dirs/demo/teacher'
    with pytest.raises(SystemExit):
        tool.parse_args(['--testbed', 'small'])  # the grid: README only
    with pytest.raises(SystemExit):
        tool.parse_args(['--protocol', 'race', '--testbed', 'tiny'])


@pytest.mark.e2e
def test_race_end_to_end_tiny_on_the_small_testbed(tmp_path):
    """SSD-KD on the small testbed, one seed, a 2-second budget, generated
    data and a random small teacher, through the real runner."""
    from _fmnist_fake import write_idx_set
    data = write_idx_set(str(tmp_path / 'fmnist'), n_train=20, n_test=40)
    tdir = tmp_path / 'teacher'
    tdir.mkdir()
    cfg = load_config(config_path(SMALL['ssdkd_cfg']), log=False)
    torch.manual_seed(0)
    teacher = MODELS.build(cfg.model.teacher)
    torch.save(dict(state_dict=teacher.state_dict()), tdir / 'teacher.pth')
    (tdir / 'teacher.json').write_text(json.dumps(dict(
        top1=50.0, checkpoint=str(tdir / 'teacher.pth'),
        config=SMALL['teacher_cfg'])))
    small = {'ssdkd': {'model.inversion.synth_batch_size': 8,
                       'model.kd.batch_size': 8,
                       'model.replay_buffer.capacity': 32}}
    res = race.run_race(
        2.0, seeds=[0], methods=['ssdkd'], grid=0.5,
        work_dir=str(tmp_path / 'race'), data_root=data,
        teacher_dir=str(tdir), prepare_data=False, cfg_options=small,
        testbed='small')
    assert res['testbed'] == 'small'
    (m, ) = res['methods']
    assert len(m['curves']['0']) == 2 and m['student_steps'] >= 0
    # the run distilled the small pair (its dumped config)
    dumped = glob.glob(str(tmp_path / 'race' / 'ssdkd' / '**' / '*.py'),
                       recursive=True)
    assert dumped and all('base_channels=8' in open(p).read()
                          for p in dumped)
