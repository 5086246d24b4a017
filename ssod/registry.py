"""Registries of the ``ssod`` scope, each a child of MMDetection's registry of the same kind.

Why children: a config with ``default_scope = 'ssod'`` looks a type up in ssod's registry first and then
walks up to mmdet's (and from there to mmengine's), so every mmdet component (``FasterRCNN``,
``RandomResize``, ``CocoMetric`` ...) still builds without a prefix, while ssod's own components are
found even when another scope is the default (``'ssod.SoftTeacher'``). This is the pattern MMYOLO uses.

``locations=["ssod"]``: importing the package registers every ssod component, so a registry can
import it lazily when a config is built without ``import ssod`` having happened first.
"""
from mmdet.registry import DATA_SAMPLERS as MMDET_DATA_SAMPLERS
from mmdet.registry import DATASETS as MMDET_DATASETS
from mmdet.registry import EVALUATOR as MMDET_EVALUATOR
from mmdet.registry import HOOKS as MMDET_HOOKS
from mmdet.registry import LOG_PROCESSORS as MMDET_LOG_PROCESSORS
from mmdet.registry import LOOPS as MMDET_LOOPS
from mmdet.registry import METRICS as MMDET_METRICS
from mmdet.registry import MODEL_WRAPPERS as MMDET_MODEL_WRAPPERS
from mmdet.registry import MODELS as MMDET_MODELS
from mmdet.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMDET_OPTIM_WRAPPER_CONSTRUCTORS
from mmdet.registry import OPTIM_WRAPPERS as MMDET_OPTIM_WRAPPERS
from mmdet.registry import OPTIMIZERS as MMDET_OPTIMIZERS
from mmdet.registry import PARAM_SCHEDULERS as MMDET_PARAM_SCHEDULERS
from mmdet.registry import RUNNER_CONSTRUCTORS as MMDET_RUNNER_CONSTRUCTORS
from mmdet.registry import RUNNERS as MMDET_RUNNERS
from mmdet.registry import TASK_UTILS as MMDET_TASK_UTILS
from mmdet.registry import TRANSFORMS as MMDET_TRANSFORMS
from mmdet.registry import VISBACKENDS as MMDET_VISBACKENDS
from mmdet.registry import VISUALIZERS as MMDET_VISUALIZERS
from mmdet.registry import WEIGHT_INITIALIZERS as MMDET_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

SCOPE = 'ssod'


def _child(name: str, parent: Registry) -> Registry:
    return Registry(name, parent=parent, scope=SCOPE, locations=[SCOPE])


# Engine
RUNNERS = _child('runner', MMDET_RUNNERS)
RUNNER_CONSTRUCTORS = _child('runner constructor', MMDET_RUNNER_CONSTRUCTORS)
LOOPS = _child('loop', MMDET_LOOPS)
HOOKS = _child('hook', MMDET_HOOKS)
LOG_PROCESSORS = _child('log_processor', MMDET_LOG_PROCESSORS)
# Data
DATASETS = _child('dataset', MMDET_DATASETS)
DATA_SAMPLERS = _child('data sampler', MMDET_DATA_SAMPLERS)
TRANSFORMS = _child('transform', MMDET_TRANSFORMS)
# Models
MODELS = _child('model', MMDET_MODELS)
MODEL_WRAPPERS = _child('model_wrapper', MMDET_MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child('weight initializer', MMDET_WEIGHT_INITIALIZERS)
TASK_UTILS = _child('task util', MMDET_TASK_UTILS)
# Optimisation
OPTIMIZERS = _child('optimizer', MMDET_OPTIMIZERS)
OPTIM_WRAPPERS = _child('optim_wrapper', MMDET_OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    MMDET_OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child('parameter scheduler', MMDET_PARAM_SCHEDULERS)
# Evaluation and visualisation
METRICS = _child('metric', MMDET_METRICS)
EVALUATOR = _child('evaluator', MMDET_EVALUATOR)
VISUALIZERS = _child('visualizer', MMDET_VISUALIZERS)
VISBACKENDS = _child('vis_backend', MMDET_VISBACKENDS)
