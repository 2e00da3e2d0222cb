# mmrazor's DAFL (configs/distill/mmcls/dafl) on Fashion-MNIST, ResNet-34 ->
# ResNet-18: mmrazor's losses, weights, generator and optimizers; batch 128.
#   python tools/train.py configs/benchmark/dafl_resnet34_resnet18_fmnist.py \
#       --cfg-options model.teachers.res34.ckpt_path=work_dirs/demo/teacher/teacher.pth
_base_ = './_base_/mmrazor_datafree_fmnist.py'

model = dict(
    type='FixedDAFLDataFreeDistillation',
    generator=dict(
        type='DAFLGeneratorChannels',
        img_size=28,
        latent_dim=1000,
        hidden_channels=128,
        out_channels=1),
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc')),
        teacher_recorders=dict(
            res34_fc=dict(type='ModuleOutputs', source='res34.head.fc')),
        distill_losses=dict(
            loss_kl=dict(type='KLDivergence', tau=6, loss_weight=1)),
        loss_forward_mappings=dict(
            loss_kl=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='res34_fc')))),
    generator_distiller=dict(
        type='ConfigurableDistiller',
        teacher_recorders=dict(
            res34_neck_gap=dict(type='ModuleOutputs', source='res34.neck.gap'),
            res34_fc=dict(type='ModuleOutputs', source='res34.head.fc')),
        distill_losses=dict(
            loss_res34_oh=dict(type='OnehotLikeLoss', loss_weight=0.05),
            loss_res34_ie=dict(type='InformationEntropyLoss', loss_weight=5),
            loss_res34_ac=dict(type='ActivationLoss', loss_weight=0.01)),
        loss_forward_mappings=dict(
            loss_res34_oh=dict(
                preds_T=dict(from_student=False, recorder='res34_fc')),
            loss_res34_ie=dict(
                preds_T=dict(from_student=False, recorder='res34_fc')),
            loss_res34_ac=dict(
                feat_T=dict(from_student=False, recorder='res34_neck_gap')))))

optim_wrapper = dict(
    constructor='mmrazor.SeparateOptimWrapperConstructor',
    architecture=dict(optimizer=dict(type='AdamW', lr=1e-1)),
    generator=dict(optimizer=dict(type='AdamW', lr=1e-3)))
