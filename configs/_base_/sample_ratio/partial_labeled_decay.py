# The Soft Teacher paper's sample ratio for partially labeled data (COCO 1/5/10 %): 1 labeled image in
# 5 (sr = 0.2), decayed linearly to 0 over the last 10k iterations. Used by GroupSemiBalanceSampler:
#   sampler=dict(type='GroupSemiBalanceSampler', batch_size=5, source_ratio=[1, 4],
#                ratio_schedule={{_base_.sample_ratio_schedule}}, max_iters=max_iters)
# or, in a config that inherits this file, `ratio_schedule=sample_ratio_schedule`.
sample_ratio_schedule = dict(type='linear', begin=-10000, end=-1, start_value=0.2, end_value=0.0)
