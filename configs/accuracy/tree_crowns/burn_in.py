# Accuracy benchmark, tree crowns: the supervised burn-in every method starts from (the demo's).
_base_ = '../../demo/faster_rcnn_lite0_tree_crowns_burn_in.py'
