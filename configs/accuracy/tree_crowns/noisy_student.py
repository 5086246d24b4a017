# Accuracy benchmark, tree crowns, Noisy Student row: two rounds of
# configs/noisy_student/noisy_student_lite0_tree_crowns.py, the burn-in as the round-0 teacher
# (ssod/experiments/accuracy.py sets its checkpoint), each round as long as an arm.
_base_ = '../../noisy_student/noisy_student_lite0_tree_crowns.py'
