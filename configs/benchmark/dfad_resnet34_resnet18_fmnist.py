# mmrazor's DFAD (configs/distill/mmcls/dfad) on Fashion-MNIST, ResNet-34 ->
# ResNet-18: L1 on logits, adversarial generator (-L1), 5 student steps
# first, then one generator step; batch 128.
#   python tools/train.py configs/benchmark/dfad_resnet34_resnet18_fmnist.py \
#       --cfg-options model.teachers.res34.ckpt_path=work_dirs/demo/teacher/teacher.pth
_base_ = './_base_/mmrazor_datafree_fmnist.py'

model = dict(
    type='FixedDataFreeDistillation',
    generator=dict(
        type='DAFLGeneratorChannels',
        img_size=28,
        latent_dim=256,
        hidden_channels=128,
        bn_eps=1e-5,
        out_channels=1),
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc')),
        teacher_recorders=dict(
            res34_fc=dict(type='ModuleOutputs', source='res34.head.fc')),
        distill_losses=dict(loss_kl=dict(type='L1Loss', loss_weight=1.0)),
        loss_forward_mappings=dict(
            loss_kl=dict(
                s_feature=dict(from_student=True, recorder='fc'),
                t_feature=dict(from_student=False, recorder='res34_fc')))),
    generator_distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc')),
        teacher_recorders=dict(
            res34_fc=dict(type='ModuleOutputs', source='res34.head.fc')),
        distill_losses=dict(loss_l1=dict(type='L1Loss', loss_weight=-1.0)),
        loss_forward_mappings=dict(
            loss_l1=dict(
                s_feature=dict(from_student=True, recorder='fc'),
                t_feature=dict(from_student=False, recorder='res34_fc')))),
    student_iter=5,
    student_train_first=True)

optim_wrapper = dict(
    constructor='mmrazor.SeparateOptimWrapperConstructor',
    architecture=dict(
        optimizer=dict(type='SGD', lr=0.1, weight_decay=5e-4, momentum=0.9)),
    generator=dict(optimizer=dict(type='AdamW', lr=1e-3)))
