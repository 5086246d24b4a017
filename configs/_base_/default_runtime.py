# Runtime shared by every ssod config: scope, logging (text + TensorBoard), checkpoints, environment.
# Training is iteration based (the semi-supervised samplers are infinite), so logs and checkpoints count
# iterations, not epochs.
default_scope = 'ssod'
custom_imports = dict(imports=['ssod'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    # log_metric_by_epoch=False: validation metrics are logged at the iteration (mmengine's default
    # puts them at the epoch, always 0 in iteration-based training).
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # ssod's CheckpointHook: mmengine's, with atomic saves and a resume that skips incomplete files.
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=10000, max_keep_ckpts=2),
    # Skip optimizer steps (and teacher updates) with a non-finite loss or gradient norm; stop after
    # more than max_consecutive_skips in a row (ssod/engine/non_finite_guard.py).
    non_finite_guard=dict(type='NonFiniteGuardHook', max_consecutive_skips=3),
    # Unlabeled images that fail to load are replaced (ssod/datasets/bad_image_skip.py); this logs
    # and counts them and stops the run past the limit.
    skipped_images=dict(type='SkippedImagesHook', max_skipped_images=1000),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)

log_level = 'INFO'
load_from = None
resume = False
