# Accuracy benchmark, synthetic shapes, Noisy Student row: two rounds of
# configs/noisy_student/noisy_student_lite0_synthetic.py, the burn-in (teacher-student checkpoint, teacher =
# student) as the round-0 teacher, each round as long as an arm; data_root set per split by the benchmark.
_base_ = '../../noisy_student/noisy_student_lite0_synthetic.py'
