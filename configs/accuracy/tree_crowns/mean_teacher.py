# Accuracy benchmark, tree crowns, Mean Teacher arm: the Soft Teacher arm's data, schedule and EMA teacher,
# but SemiBaseDetector: hard pseudo-labels (teacher detections above cls_pseudo_thr) and the student's own
# losses on them (no soft background weights, no box-jitter filter, no ignore regions).
_base_ = '../../demo/soft_teacher_lite0_tree_crowns.py'

model = dict(type='SemiBaseDetector')
