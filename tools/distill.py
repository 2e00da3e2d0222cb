# Copyright (c) ssdkd_mm contributors. All rights reserved.
"""Distill a trained OpenMMLab model into a student, data-free, in one
command: the SSD-KD config is built from the teacher's and the student's own
configs, written to the work dir, and trained.

    python tools/distill.py TEACHER_CONFIG TEACHER_CKPT \\
        --student STUDENT_CONFIG [--minutes M] [--work-dir D]

Configs are local files or ``mmpretrain::…`` / ``mmseg::…`` paths. From the
teacher's config come the task (mmpretrain classifier or mmseg segmentor),
its classes, the normalisation, the image size and the val/test sets and
metrics; the buffer is 10 % of its training set when the dataset type tells
the size (else ``--buffer N``). The SSD-KD knobs are those of ``--recipe``
(default: the data-free base of the task, ``ssdkd_cls.py`` /
``ssdkd_seg.py``; any SSD-KD config can lend its knobs, e.g. the shipped
Fashion-MNIST one). The written config is an ordinary config: edit it and
rerun it with ``python tools/train.py WORK_DIR/ssdkd_distill.py``.
"""
import argparse
import copy
import os
import os.path as osp
import sys

import ssdkd_mm  # noqa: F401  (compatibility fixes + registration first)
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.registry import RUNNERS

from ssdkd_mm.engine.config import (ConfigCompletionError, complete_config,
                                    is_ssdkd)
from ssdkd_mm.engine.data_check import preflight
from ssdkd_mm.experiments.common import fit_to_budget
from ssdkd_mm.models.cfg_path import load_model_config
from ssdkd_mm.utils import register_all_modules

#: What the teacher's config lends to the SSD-KD config.
DATA_KEYS = ('data_preprocessor', 'train_dataloader', 'val_dataloader',
             'val_evaluator', 'test_dataloader', 'test_evaluator')
#: Completion errors → the flag that answers them.
FLAG_HINTS = {'replay_buffer.capacity': '--buffer N',
              'img_size': '--img-size N',
              'normalisation': '--cfg-options data_preprocessor.mean=[...] '
                               'data_preprocessor.std=[...]'}


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Distill a trained mmpretrain classifier or mmseg '
        'segmentor into a student, data-free (SSD-KD)')
    p.add_argument('teacher_config',
                   help="the teacher's config (local or mmpretrain::/mmseg::)")
    p.add_argument('teacher_ckpt', help="the teacher's local checkpoint")
    p.add_argument('--student', required=True,
                   help="the student's config (its model is distilled)")
    p.add_argument('--minutes', type=float, default=None,
                   help='wall-clock budget of the training loop; the '
                   'schedules are fitted to it (default: the recipe\'s '
                   'train_cfg.max_iters)')
    p.add_argument('--work-dir', default=None,
                   help='default: work_dirs/distill_<teacher>_to_<student>')
    p.add_argument('--buffer', type=int, default=None,
                   help='replay buffer size (default: 10 %% of the teacher\'s '
                   'training set, when its dataset type tells the size)')
    p.add_argument('--img-size', type=int, default=None,
                   help='side of the synthetic images (default: from the '
                   "teacher's pipelines or dataset)")
    p.add_argument('--recipe', default=None,
                   help='an SSD-KD config whose knobs are used (default: '
                   'ssdkd_mm::ssdkd/_base_/ssdkd_cls.py or ssdkd_seg.py)')
    p.add_argument('--seed', type=int, default=None)
    p.add_argument('--dry-run', action='store_true',
                   help='write the config and stop')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override settings of the written config, key=value')
    return p.parse_args(argv)


def _task(cfg: Config, scope) -> str:
    model_type = str(cfg.model.get('type', ''))
    if scope == 'mmseg' or model_type.endswith('EncoderDecoder'):
        return 'seg'
    return 'cls'


def _name(path: str) -> str:
    return osp.splitext(osp.basename(path.split('::')[-1]))[0]


def _config_ref(path: str) -> str:
    """A path the written config can use from anywhere."""
    return path if '::' in path else osp.abspath(osp.expanduser(path))


def build_config(args) -> Config:
    """The completed SSD-KD config of ``args`` (raises ConfigCompletionError,
    FileNotFoundError or KeyError with what to fix)."""
    teacher_cfg, scope = load_model_config(args.teacher_config)
    load_model_config(args.student)  # fail early on a wrong path
    task = _task(teacher_cfg, scope)
    missing = [k for k in ('val_dataloader', 'val_evaluator')
               if k not in teacher_cfg]
    if missing:
        raise KeyError(
            f'the teacher config {args.teacher_config!r} has no '
            f'{" or ".join(missing)}: distill.py takes the val set and '
            'metric from it. Give the config the teacher was trained and '
            'tested with (one that inherits a dataset base).')
    recipe = args.recipe or f'ssdkd_mm::ssdkd/_base_/ssdkd_{task}.py'
    cfg = Config.fromfile(
        recipe if '::' not in recipe else Config._get_cfg_path(recipe, '')[0])
    if not is_ssdkd(cfg):
        raise KeyError(f'--recipe {recipe!r} is not an SSD-KD config')
    # the recipe's knobs, the teacher's data, the user's models
    for key in DATA_KEYS + ('train_pipeline', 'test_pipeline', 'img_size'):
        cfg.pop(key, None)
        if key in teacher_cfg:
            cfg[key] = copy.deepcopy(teacher_cfg[key])
    model = cfg.model
    model.task = task
    model.teacher = ConfigDict(cfg_path=_config_ref(args.teacher_config))
    model.architecture = ConfigDict(cfg_path=_config_ref(args.student))
    model.teacher_ckpt = osp.abspath(osp.expanduser(args.teacher_ckpt))
    model.pop('data_preprocessor', None)
    model.pop('num_classes', None)
    if isinstance(model.get('generator'), dict):
        model.generator.pop('img_size', None)
        model.generator.pop('nc', None)
    model.setdefault('replay_buffer', ConfigDict()).pop('capacity', None)
    if args.buffer is not None:
        model.replay_buffer.capacity = args.buffer
    if args.img_size is not None:
        cfg.img_size = args.img_size
    if args.seed is not None:
        cfg.randomness = dict(cfg.get('randomness', {}), seed=args.seed)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = args.work_dir or osp.join(
        'work_dirs',
        f'distill_{_name(args.teacher_config)}_to_{_name(args.student)}')
    complete_config(cfg)
    if args.minutes is not None:
        if args.minutes <= 0:
            raise ConfigCompletionError('--minutes must be > 0')
        fit_to_budget(cfg, args.minutes * 60,
                      begin_iter=cfg.get('warmup_iters', 0))
    return cfg


def main(argv=None):
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    try:
        cfg = build_config(args)
    except (ValueError, FileNotFoundError, KeyError) as e:
        msg = str(e).strip('"\'')
        hint = next((f' (tools/distill.py: {flag})'
                     for key, flag in FLAG_HINTS.items() if key in msg), '')
        raise SystemExit(f'error: {msg}{hint}')
    os.makedirs(cfg.work_dir, exist_ok=True)
    path = osp.join(cfg.work_dir, 'ssdkd_distill.py')
    cfg.dump(path)
    print(f'[distill] SSD-KD config written to {path}\n'
          f'[distill] rerun or edit it: python tools/train.py {path}',
          flush=True)
    if args.dry_run:
        return cfg
    try:
        preflight(cfg, teacher=True)
    except (FileNotFoundError, RuntimeError) as e:
        raise SystemExit(f'error: {e}')
    runner = RUNNERS.build(cfg)
    runner.train()
    ckpt = osp.join(runner.work_dir, 'last_checkpoint')
    print(f'[distill] done: checkpoints in {runner.work_dir} (the student: '
          f'python tools/extract_student.py '
          f'"$(cat {ckpt})" student.pth)', flush=True)
    return runner


if __name__ == '__main__':
    sys.exit(0 if main() is not None else 1)
