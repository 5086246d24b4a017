# The Soft Teacher partial-label schedule: 180k iterations, SGD lr 0.01 (for 8 GPUs x 5 images),
# momentum 0.9, weight decay 1e-4; linear warm-up over the first 500 iterations, then x0.1 at 120k
# and 160k. Validation every 5k iterations; SemiValLoop evaluates the teacher and the student of a
# semi-supervised detector (metric keys teacher/... and student/...) and is mmengine's ValLoop otherwise.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=180000, val_interval=5000)
val_cfg = dict(type='SemiValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=180000, by_epoch=False, milestones=[120000, 160000],
         gamma=0.1),
]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))

# The learning rate above is for a total batch of 40 images (8 GPUs x 5); `tools/train.py
# --auto-scale-lr` rescales it linearly to the batch actually used.
auto_scale_lr = dict(enable=False, base_batch_size=40)
