# Accuracy benchmark, tree crowns, supervised arm: the demo's control (Soft Teacher config, unsupervised
# weight 0: same labeled images per iteration, learning rate and EMA teacher, no unlabeled images).
_base_ = '../../demo/soft_teacher_lite0_tree_crowns_control.py'
