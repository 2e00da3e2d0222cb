"""mmrazor's DAFL/ZSKT/DFAD through the fixed subclasses: single process,
no generator->student gradient leak, frozen eval teachers, strict teacher
loading, no real data, counters, bf16 with fp32 losses."""
import os.path as osp

import pytest
import torch
from conftest import ROOT, build_optim
from mmengine.config import Config
from mmrazor.registry import MODELS

CFGS = {
    name: osp.join(ROOT, f'configs/benchmark/{name}_resnet34_resnet18_fmnist.py')
    for name in ('dafl', 'zskt', 'dfad')
}


def build(name, tmp_path, **model_over):
    """The shipped config's algorithm, at batch 4, with a saved random
    teacher."""
    cfg = Config.fromfile(CFGS[name])
    model = cfg.model
    model.batch_size = 4
    model.update(model_over)
    ckpt = tmp_path / 'teacher.pth'
    if not ckpt.exists():
        torch.manual_seed(1)
        teacher = MODELS.build(model.teachers.res34.build_cfg)
        torch.save(dict(state_dict=teacher.state_dict()), ckpt)
    model.teachers.res34.ckpt_path = str(ckpt)
    torch.manual_seed(0)
    return MODELS.build(model)


def _optim(alg):
    return build_optim(alg, lr=0.01)


@pytest.mark.parametrize('name', ['zskt', 'dfad', 'dafl'])
def test_train_step_runs_single_process_and_counts(name, tmp_path):
    # D1: mmrazor read generator.module.latent_dim and crashed unwrapped
    alg = build(name, tmp_path, autocast=None, channels_last=False)
    alg.train()
    before = [p.detach().clone() for p in alg.student.parameters()]
    g_before = [p.detach().clone() for p in alg.generator.parameters()]
    log = alg.train_step({'inputs': [torch.zeros(1)]}, _optim(alg))
    assert any(k.startswith('distill.') for k in log)
    assert any(k.startswith('generator.') for k in log)
    assert all(torch.isfinite(v).all() for v in log.values())
    student_iter = alg.student_iter if name != 'dafl' else 1
    assert alg.kd_steps == student_iter
    assert alg.rounds == 1
    assert alg.synthetic_images == 4 * student_iter
    assert alg.synth_time > 0 and alg.kd_time > 0
    assert any(not torch.equal(a, b)
               for a, b in zip(before, alg.student.parameters()))
    assert any(not torch.equal(a, b)
               for a, b in zip(g_before, alg.generator.parameters()))


@pytest.mark.parametrize('name', ['zskt', 'dfad'])
def test_generator_step_leaves_no_gradient_on_the_student(name, tmp_path):
    # D2: the adversarial generator loss back-propagates through the student
    alg = build(name, tmp_path, autocast=None, channels_last=False)
    alg.train()
    optim = _optim(alg)
    alg.train_generator({}, optim['generator'])
    for p in alg.student.parameters():
        assert p.grad is None or not p.grad.any()
        assert p.requires_grad  # restored for the student step
    # and the generator did get gradients through the student
    assert alg.rounds == 1


def test_the_unfixed_mmrazor_step_does_leak(tmp_path):
    """Control for the test above: mmrazor's own train_generator (with the
    generator given the .module it expects) leaves gradients on the
    student, which is the defect the subclass removes."""
    from mmrazor.models.algorithms.distill.configurable.datafree_distillation \
        import DataFreeDistillation
    alg = build('zskt', tmp_path, autocast=None, channels_last=False)
    alg.train()
    optim = _optim(alg)
    alg.generator.module = alg.generator  # what mmrazor assumes (D1)

    class _Pre:  # mmrazor feeds real labels to mode='loss' (D4)

        def __call__(self, data, training):
            from mmpretrain.structures import DataSample
            return dict(data_samples=[
                DataSample().set_gt_label(0) for _ in range(4)
            ])

    alg.__dict__['_modules'].pop('data_preprocessor')
    object.__setattr__(alg, 'data_preprocessor', _Pre())
    DataFreeDistillation.train_generator(alg, {'inputs': [0] * 4},
                                         optim['generator'])
    leaked = [p.grad for p in alg.student.parameters()
              if p.grad is not None and p.grad.any()]
    assert leaked


def test_teachers_stay_in_eval_mode(tmp_path):
    # D3
    alg = build('dfad', tmp_path)
    alg.train()
    assert alg.student.training
    assert not any(m.training for t in alg.teachers.values()
                   for m in t.modules())
    assert not any(p.requires_grad for p in alg.teachers.parameters())


def test_teacher_checkpoint_is_loaded_strictly(tmp_path):
    # mmrazor loads with strict=False: a wrong file gave a random teacher
    bad = tmp_path / 'bad.pth'
    torch.save(dict(state_dict={'backbone.nothing': torch.zeros(1)}), bad)
    cfg = Config.fromfile(CFGS['dfad'])
    cfg.model.teachers.res34.ckpt_path = str(bad)
    with pytest.raises(RuntimeError,
                       match='does not match the teacher.* missing'):
        MODELS.build(cfg.model)
    cfg.model.teachers.res34.ckpt_path = str(tmp_path / 'absent.pth')
    with pytest.raises(FileNotFoundError, match='teachers.res34.ckpt_path'):
        MODELS.build(cfg.model)


def test_loaded_teacher_matches_the_checkpoint(tmp_path):
    alg = build('dafl', tmp_path)
    saved = torch.load(tmp_path / 'teacher.pth')['state_dict']
    for k, v in alg.teachers.res34.state_dict().items():
        assert torch.equal(v, saved[k]), k


def test_bf16_forwards_fp32_losses(tmp_path):
    alg = build('zskt', tmp_path, autocast='bfloat16', channels_last=True)
    alg.train()
    optim = _optim(alg)
    _, log = alg.train_student({}, optim['architecture'])
    assert all(v.dtype == torch.float32 for v in log.values())
    assert all(torch.isfinite(v) for v in log.values())
    with pytest.raises(ValueError, match='autocast'):
        build('zskt', tmp_path, autocast='int8')
    with pytest.raises(ValueError, match='batch_size'):
        build('zskt', tmp_path, batch_size=0)


@pytest.mark.parametrize('gen', ['DAFLGeneratorChannels',
                                 'ZSKTGeneratorChannels'])
def test_generators_with_out_channels(gen):
    # explicit scope: an earlier Runner test leaves the default scope set
    g = MODELS.build(dict(_scope_='mmrazor', type=gen, img_size=28,
                          latent_dim=8,
                          hidden_channels=16, out_channels=1))
    assert g(None, 3).shape == (3, 1, 28, 28)
    g3 = MODELS.build(dict(_scope_='mmrazor', type=gen, img_size=32,
                           latent_dim=8, hidden_channels=16))
    assert g3(None, 2).shape == (2, 3, 32, 32)  # mmrazor's default kept

