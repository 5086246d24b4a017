"""Preparing data sets on disk: COCO files and the semi-supervised split writer (``coco_files``), the
COCO percent/fold split (``coco_split``), the synthetic shapes set (``synthetic``) and the NEON tree
crowns set (``tree_crowns``). ``tools/data/*.py`` are their command lines. Not imported by
``import ssod``; nothing here is named by a config.
"""
