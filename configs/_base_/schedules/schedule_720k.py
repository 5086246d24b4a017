# The Soft Teacher full-COCO schedule: 720k iterations, SGD lr 0.01 (for 8 GPUs x 8 images), momentum
# 0.9, weight decay 1e-4; linear warm-up over the first 500 iterations, then x0.1 at 480k and 640k.
# Validation every 20k iterations (teacher and student, see ssod/engine/val_loop.py).
train_cfg = dict(type='SemiIterBasedTrainLoop', max_iters=720000, val_interval=20000)
val_cfg = dict(type='SemiValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=720000, by_epoch=False, milestones=[480000, 640000],
         gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))

# The learning rate above is for a total batch of 64 images (8 GPUs x 8); `tools/train.py
# --auto-scale-lr` rescales it linearly to the batch actually used.
auto_scale_lr = dict(enable=False, base_batch_size=64)
