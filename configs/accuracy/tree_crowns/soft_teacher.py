# Accuracy benchmark, tree crowns, Soft Teacher arm: the demo's Soft Teacher phase.
_base_ = '../../demo/soft_teacher_lite0_tree_crowns.py'
