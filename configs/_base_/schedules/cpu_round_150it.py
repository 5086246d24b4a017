# A CPU-sized training round that continues from a trained detector: 150 iterations of 8 images at a constant
# SGD lr 0.002 (no warm-up: the model is trained already; no restart of a burn-in's 0.01), momentum 0.9,
# weight decay 1e-4, gradients clipped at norm 10. The length and learning rate of the demo's Soft Teacher
# phase (configs/demo/soft_teacher_lite0_tree_crowns.py), so a Noisy Student round compares with it.
# Validation after the last iteration.
max_iters = 150
train_cfg = dict(type='SemiIterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='SemiValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=max_iters)]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.002, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=10, norm_type=2))
auto_scale_lr = dict(enable=False, base_batch_size=8)
