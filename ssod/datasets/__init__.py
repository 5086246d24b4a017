"""Datasets, samplers and COCO file helpers of ssod. Importing registers the samplers."""
from . import samplers  # noqa: F401
