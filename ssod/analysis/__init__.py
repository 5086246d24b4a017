"""What the analysis tools compute: the teacher's pseudo-labels next to hidden ground truth
(``pseudo_label_inputs``), their report and pictures, the same boxes in the weak and strong training
views (``view_pseudo_labels``, ``strong_view_pictures``), training curves from logs (``curves``) and the
benchmark matrix. ``tools/analysis/*.py`` are their command lines. Not imported by ``import ssod``.
"""
