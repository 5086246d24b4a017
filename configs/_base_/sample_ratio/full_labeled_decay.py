# The Soft Teacher paper's sample ratio for fully labeled data (COCO train2017 + unlabeled2017): half of
# every batch labeled (sr = 0.5), decayed linearly to 0 over the last 20k iterations. See
# partial_labeled_decay.py for how GroupSemiBalanceSampler takes it.
sample_ratio_schedule = dict(type='linear', begin=-20000, end=-1, start_value=0.5, end_value=0.0)
