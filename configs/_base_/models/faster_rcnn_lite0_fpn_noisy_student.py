# The Noisy Student student (Xie et al. 2020, Sec. 2: "noise is the essence"): the Lite0 Faster R-CNN of
# faster_rcnn_lite0_fpn.py with the paper's model noise and soft pseudo-label weighting:
# * stochastic depth in the backbone: drop_path_rate 0.2 (the paper's final-block survival 0.8; linearly
#   smaller in earlier blocks), training only;
# * dropout 0.5 after each shared FC of the box head (the paper's 0.5 before the classifier), training only;
# * ScoreWeightedRoIHead: the R-CNN classification loss of a RoI assigned to a pseudo box is weighted by the
#   teacher's score of that box (labeled boxes weigh 1), a soft-label form for detection.
# The input noise (strong augmentation) belongs to the pseudo-labeled images' pipeline
# (configs/_base_/datasets/noisy_student_*.py).
_base_ = './faster_rcnn_lite0_fpn.py'

model = dict(
    backbone=dict(drop_path_rate=0.2),
    roi_head=dict(type='ScoreWeightedRoIHead', bbox_head=dict(type='DropoutShared2FCBBoxHead', dropout=0.5)))
