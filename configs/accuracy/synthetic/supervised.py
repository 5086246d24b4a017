# Accuracy benchmark, synthetic shapes, supervised arm: the Soft Teacher arm with unsupervised weight 0.
_base_ = './soft_teacher.py'

model = dict(semi_train_cfg=dict(unsup_weight=0.0))
custom_hooks = [
    dict(type='EMATeacherHook', teacher_momentum=0.995),
    dict(type='Weighter', name='unsup_weight', schedule=0.0),
]
