# Accuracy benchmark, synthetic shapes, Mean Teacher arm: hard pseudo-labels (SemiBaseDetector).
_base_ = './soft_teacher.py'

model = dict(type='SemiBaseDetector')
