# mmrazor's ZSKT (configs/distill/mmcls/zskt) on Fashion-MNIST, ResNet-34 ->
# ResNet-18: attention transfer on the four stages + KL, adversarial
# generator, 10 student steps per generator step; batch 128.
#   python tools/train.py configs/benchmark/zskt_resnet34_resnet18_fmnist.py \
#       --cfg-options model.teachers.res34.ckpt_path=work_dirs/demo/teacher/teacher.pth
_base_ = './_base_/mmrazor_datafree_fmnist.py'


model = dict(
    type='FixedDataFreeDistillation',
    generator=dict(
        type='ZSKTGeneratorChannels',
        img_size=28,
        latent_dim=256,
        hidden_channels=128,
        out_channels=1),
    distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            bb_s1=dict(type='ModuleOutputs', source='backbone.layer1.1.relu'),
            bb_s2=dict(type='ModuleOutputs', source='backbone.layer2.1.relu'),
            bb_s3=dict(type='ModuleOutputs', source='backbone.layer3.1.relu'),
            bb_s4=dict(type='ModuleOutputs', source='backbone.layer4.1.relu'),
            fc=dict(type='ModuleOutputs', source='head.fc')),
        teacher_recorders=dict(
            res34_bb_s1=dict(
                type='ModuleOutputs', source='res34.backbone.layer1.2.relu'),
            res34_bb_s2=dict(
                type='ModuleOutputs', source='res34.backbone.layer2.3.relu'),
            res34_bb_s3=dict(
                type='ModuleOutputs', source='res34.backbone.layer3.5.relu'),
            res34_bb_s4=dict(
                type='ModuleOutputs', source='res34.backbone.layer4.2.relu'),
            res34_fc=dict(type='ModuleOutputs', source='res34.head.fc')),
        distill_losses=dict(
            loss_s1=dict(type='ATLoss', loss_weight=250.0),
            loss_s2=dict(type='ATLoss', loss_weight=250.0),
            loss_s3=dict(type='ATLoss', loss_weight=250.0),
            loss_s4=dict(type='ATLoss', loss_weight=250.0),
            loss_kl=dict(
                type='KLDivergence', loss_weight=2.0, reduction='mean')),
        # record_idx=1: a BasicBlock's ReLU runs twice; its block output.
        loss_forward_mappings=dict(
            {
                f'loss_s{i}': dict(
                    s_feature=dict(
                        from_student=True, recorder=f'bb_s{i}',
                        record_idx=1),
                    t_feature=dict(
                        from_student=False, recorder=f'res34_bb_s{i}',
                        record_idx=1))
                for i in range(1, 5)
            },
            loss_kl=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='res34_fc')))),
    generator_distiller=dict(
        type='ConfigurableDistiller',
        student_recorders=dict(
            fc=dict(type='ModuleOutputs', source='head.fc')),
        teacher_recorders=dict(
            res34_fc=dict(type='ModuleOutputs', source='res34.head.fc')),
        distill_losses=dict(
            loss_kl=dict(
                type='KLDivergence',
                loss_weight=-2.0,
                reduction='mean',
                teacher_detach=False)),
        loss_forward_mappings=dict(
            loss_kl=dict(
                preds_S=dict(from_student=True, recorder='fc'),
                preds_T=dict(from_student=False, recorder='res34_fc')))),
    student_iter=10)

optim_wrapper = dict(
    constructor='mmrazor.SeparateOptimWrapperConstructor',
    architecture=dict(
        optimizer=dict(type='SGD', lr=0.1, weight_decay=5e-4, momentum=0.9)),
    generator=dict(optimizer=dict(type='Adam', lr=1e-3)))
