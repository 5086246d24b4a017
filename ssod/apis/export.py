"""Export the teacher or the student of a semi-supervised checkpoint as a plain MMDetection model.

    python tools/export_model.py CONFIG CHECKPOINT [--model teacher|student] [--out-dir DIR]
                                 [--name NAME] [--cfg-options key=value ...]

A checkpoint of ``SemiBaseDetector`` / ``SoftTeacher`` holds two copies of one detector, under the state
dict prefixes ``teacher.`` and ``student.`` (:mod:`ssod.models.detectors.semi_base`). MMDetection 3 has
no tool to take one of them out, so its inference API cannot use such a checkpoint. This tool writes

* ``DIR/NAME.pth``: ``state_dict`` = the chosen model's weights without the prefix (parameters and
  buffers, e.g. BN running statistics), ``meta.dataset_meta`` = the classes (and palette) the detector
  was trained on, ``meta.exported_from`` = source checkpoint, model and iteration. Plain tensors,
  strings and numbers only, so it loads with ``torch.load(weights_only=True)`` in any process;
* ``DIR/NAME.py``: the inner detector config as a stand-alone mmdet config: ``default_scope='mmdet'``,
  no ``custom_imports`` of ssod, the detector as ``model`` (with its data preprocessor), and the semi
  config's test pipeline, ``test_dataloader``, ``test_evaluator`` and runtime settings, so that
  ``mmdet.apis.init_detector(NAME.py, NAME.pth)``, ``DetInferencer(model=NAME.py, weights=NAME.pth)``
  and mmdet's ``tools/test.py NAME.py NAME.pth`` (a Runner built from the config) work in a process
  that never imports ssod.

The teacher (default) is the model the Soft Teacher paper evaluates: the EMA of the student, usually the
better of the two. Defaults: ``DIR`` is the checkpoint's folder, ``NAME`` ``<checkpoint stem>_<model>``.

Before writing, the tool builds the detector from the exported config in mmdet's scope and loads the
weights, requiring every key and shape to match (what ``strict=True`` checks), so a config that needs ssod components, or weights that do not fit the
config, is an error here rather than a silent partial load later (``init_detector`` loads non-strictly).
Bad input (missing files, a checkpoint without ``teacher.``/``student.`` weights, an unsafe pickle,
classes that disagree with the detector's ``num_classes``) raises :class:`ExportError`; the tool prints
``error: ...`` and returns 2.
"""
import copy
import os
import os.path as osp
import tempfile
import zipfile
from collections import OrderedDict
from typing import Dict, List, Optional

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope

import ssod  # noqa: F401  (registers ssod components and the checkpoint allow-list)
from ssod.compat.checkpoint_safety import CHECKPOINT_LOAD_ERRORS, load_local_checkpoint

MODEL_CHOICES = ('teacher', 'student')
#: Runtime settings copied from the semi config when present (all are mmengine/mmdet components).
RUNTIME_KEYS = ('default_hooks', 'env_cfg', 'log_processor', 'log_level')
#: ssod hooks of ``default_hooks`` that only act during training (left out of an exported config).
TRAINING_ONLY_HOOKS = ('NonFiniteGuardHook', 'SkippedImagesHook')
#: Inference needs no TensorBoard; pictures from ``--show-dir`` go to the local backend.
PLAIN_VISUALIZER = dict(type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                        name='visualizer')


class ExportError(ValueError):
    """The config or checkpoint cannot be exported as a plain mmdet model."""


# ------------------------------------------------------------------------------------------ weights

def read_checkpoint(path: str) -> dict:
    """The checkpoint at ``path``, loaded with ``weights_only=True`` on the CPU."""
    if osp.isfile(path) and not zipfile.is_zipfile(path):
        # torch.save has written zip archives since torch 1.6; anything else is not a checkpoint we
        # can read safely (torch would report it as a refused pickle, which misleads).
        raise ExportError(f'cannot read checkpoint {path}: it is not a torch checkpoint (zip archive)')
    try:
        checkpoint = load_local_checkpoint(path, map_location='cpu')
    except FileNotFoundError as err:
        raise ExportError(f'checkpoint {path} does not exist') from err
    except CHECKPOINT_LOAD_ERRORS as err:  # the message names the file and says what to do
        raise ExportError(str(err)) from err
    except (RuntimeError, OSError, EOFError) as err:
        raise ExportError(f'cannot read checkpoint {path}: {err}') from err
    if not isinstance(checkpoint, dict):
        raise ExportError(f'checkpoint {path} holds a {type(checkpoint).__name__}, expected a dict with '
                          f"a 'state_dict'")
    return checkpoint


def semi_state_dict(checkpoint: dict, path: str) -> Dict[str, torch.Tensor]:
    """The full (teacher + student) state dict: ``checkpoint['state_dict']`` or a bare state dict,
    without a ``module.`` prefix that a DDP-wrapped save leaves on every key."""
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict) or not state or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise ExportError(f"checkpoint {path} has no state dict of tensors (no 'state_dict' entry)")
    if all(key.startswith('module.') for key in state):
        state = {key[len('module.'):]: value for key, value in state.items()}
    return state


def model_weights(state: Dict[str, torch.Tensor], model: str, path: str) -> 'OrderedDict':
    """The weights under ``<model>.`` with the prefix removed, in their saved order."""
    if model not in MODEL_CHOICES:
        raise ExportError(f'--model must be one of {MODEL_CHOICES}, got {model!r}')
    prefix = f'{model}.'
    weights = OrderedDict((key[len(prefix):], value) for key, value in state.items()
                          if key.startswith(prefix))
    if not weights:
        found = sorted({key.split('.', 1)[0] for key in state})
        raise ExportError(
            f"checkpoint {path} has no '{prefix}*' weights, so it is not a checkpoint of a "
            f'semi-supervised (teacher-student) detector; its keys start with {found[:8]}. A plain '
            f'detector checkpoint needs no export: load it with mmdet directly')
    return weights


# ------------------------------------------------------------------------------------------ config

def detector_config(semi_cfg: Config, config_path: str) -> ConfigDict:
    """The inner detector config of a semi-supervised config, with its own data preprocessor."""
    model = semi_cfg.get('model')
    if model is None or 'detector' not in model:
        raise ExportError(f"{config_path}: 'model' has no 'detector' entry, so it is not a "
                          f'semi-supervised detector config (expected e.g. type=SoftTeacher)')
    detector = copy.deepcopy(model['detector'])
    if 'data_preprocessor' not in detector:
        wrapper = model.get('data_preprocessor') or {}
        inner = wrapper.get('data_preprocessor')
        if inner is None:
            raise ExportError(f'{config_path}: neither model.detector nor model.data_preprocessor '
                              f'names the detector data preprocessor')
        detector['data_preprocessor'] = copy.deepcopy(inner)
    # The weights come from the exported checkpoint; never fetch a pretrained backbone for them.
    if isinstance(detector.get('backbone'), dict) and 'init_cfg' in detector['backbone']:
        detector['backbone']['init_cfg'] = None
    return detector


def test_dataloader_config(semi_cfg: Config, config_path: str) -> ConfigDict:
    """The semi config's test (else val) dataloader; its dataset carries the test pipeline."""
    loader = semi_cfg.get('test_dataloader') or semi_cfg.get('val_dataloader')
    if not loader or 'pipeline' not in loader.get('dataset', {}):
        raise ExportError(f'{config_path}: no test_dataloader (or val_dataloader) with a dataset '
                          f'pipeline; mmdet inference takes its test pipeline from there')
    return copy.deepcopy(loader)


def plain_config(semi_cfg: Config, config_path: str) -> Config:
    """A stand-alone mmdet config for the inner detector (see the module docstring)."""
    loader = test_dataloader_config(semi_cfg, config_path)
    plain = dict(
        default_scope='mmdet',
        model=detector_config(semi_cfg, config_path),
        test_pipeline=copy.deepcopy(loader.dataset.pipeline),
        test_dataloader=loader,
        test_cfg=dict(type='TestLoop'),
        visualizer=copy.deepcopy(PLAIN_VISUALIZER),
    )
    evaluator = semi_cfg.get('test_evaluator') or semi_cfg.get('val_evaluator')
    if evaluator:
        plain['test_evaluator'] = copy.deepcopy(evaluator)
    for key in RUNTIME_KEYS:
        if key in semi_cfg:
            plain[key] = copy.deepcopy(semi_cfg[key])
    if plain.get('default_hooks'):  # ssod's training-only fault hooks have no role in inference
        plain['default_hooks'] = {name: hook for name, hook in plain['default_hooks'].items()
                                  if not (isinstance(hook, dict)
                                          and hook.get('type') in TRAINING_ONLY_HOOKS)}
    return Config(plain)


def _types(node) -> List[str]:
    """The ``type`` of a config dict, or of every dict in a list of them."""
    items = node if isinstance(node, (list, tuple)) else [node]
    return [item['type'] for item in items
            if isinstance(item, dict) and isinstance(item.get('type'), str)]


def components_outside_mmdet(cfg: Config) -> List[str]:
    """``section: Type`` for every component of ``cfg`` (other than the model, which is built) that
    mmdet's registries (and mmengine's, their parents) do not know."""
    from mmdet import registry as mmdet_registry
    pipeline = cfg.test_dataloader.dataset.pipeline
    checks = [('test pipeline', mmdet_registry.TRANSFORMS, _types(pipeline)),
              ('test_dataloader.dataset', mmdet_registry.DATASETS, _types(cfg.test_dataloader.dataset)),
              ('test_dataloader.sampler', mmdet_registry.DATA_SAMPLERS,
               _types(cfg.test_dataloader.get('sampler'))),
              ('test_evaluator', mmdet_registry.METRICS, _types(cfg.get('test_evaluator'))),
              ('default_hooks', mmdet_registry.HOOKS,
               _types(list((cfg.get('default_hooks') or {}).values()))),
              ('log_processor', mmdet_registry.LOG_PROCESSORS, _types(cfg.get('log_processor')))]
    unknown = []
    with DefaultScope.overwrite_default_scope('mmdet'):
        for section, registry, names in checks:
            unknown += [f'{section}: {name}' for name in names if registry.get(name) is None]
    return unknown


def check_loads_in_mmdet(cfg: Config, weights: Dict[str, torch.Tensor], config_path: str) -> None:
    """Build the detector in mmdet's scope and load ``weights`` strictly; raise on any mismatch."""
    from mmdet.registry import MODELS as MMDET_MODELS
    unknown = components_outside_mmdet(cfg)
    if unknown:
        raise ExportError(f'{config_path}: the exported config would use components that mmdet does not '
                          f'provide: {unknown}; only configs made of mmdet/mmengine parts can be '
                          f'exported as a plain mmdet model')
    with DefaultScope.overwrite_default_scope('mmdet'):
        try:
            detector = MMDET_MODELS.build(copy.deepcopy(cfg.model))
        except KeyError as err:
            raise ExportError(
                f'{config_path}: the detector does not build from mmdet alone: {err}') from err
    try:
        result = detector.load_state_dict(weights, strict=False)
    except RuntimeError as err:  # tensors of the wrong shape
        raise ExportError(f'the checkpoint weights do not fit the detector of {config_path} '
                          f'(is it the config the checkpoint was trained with?): {err}') from err
    if result.missing_keys or result.unexpected_keys:
        raise ExportError(
            f'the checkpoint weights do not fit the detector of {config_path}: missing '
            f'{result.missing_keys[:5]} ({len(result.missing_keys)} in all), unexpected '
            f'{result.unexpected_keys[:5]} ({len(result.unexpected_keys)} in all); is it the config '
            f'the checkpoint was trained with?')


def _num_classes(detector: dict) -> Optional[int]:
    """``num_classes`` of the detector's box head, where the config states it."""
    for path in (('roi_head', 'bbox_head'), ('bbox_head',)):
        node = detector
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, (list, tuple)):  # cascade heads: a list of box heads
            node = node[-1] if node else None
        if isinstance(node, dict) and isinstance(node.get('num_classes'), int):
            return node['num_classes']
    return None


def dataset_meta(checkpoint: dict, cfg: Config, config_path: str) -> dict:
    """Classes (and palette) of the detector: the checkpoint's ``meta.dataset_meta`` (what the Runner
    saved from the training set), else the test dataset's ``metainfo`` in the config."""
    meta = (checkpoint.get('meta') or {}).get('dataset_meta') or {}
    meta = {key.lower(): value for key, value in meta.items()}
    if 'classes' not in meta:
        metainfo = cfg.test_dataloader.dataset.get('metainfo') or {}
        meta = {key.lower(): copy.deepcopy(value) for key, value in dict(metainfo).items()}
    if 'classes' not in meta:
        raise ExportError(f'neither the checkpoint meta nor the test dataset of {config_path} names the '
                          f'classes; set test_dataloader.dataset.metainfo.classes (--cfg-options)')
    meta = {key: _plain(value) for key, value in meta.items() if key in ('classes', 'palette')}
    expected = _num_classes(cfg.model)
    if expected is not None and len(meta['classes']) != expected:
        raise ExportError(f'{len(meta["classes"])} classes {meta["classes"]} but the detector of '
                          f'{config_path} has num_classes={expected}')
    return meta


def _plain(value):
    """``value`` with every mapping / sequence as a builtin dict / list / tuple (a ``ConfigDict`` would
    not load under ``weights_only``)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------ writing

def save_atomically(obj, path: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=osp.dirname(path), suffix='.tmp')
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def export(config_path: str, checkpoint_path: str, model: str = 'teacher',
           out_dir: Optional[str] = None, name: Optional[str] = None,
           cfg_options: Optional[dict] = None) -> Dict[str, str]:
    """Write ``NAME.pth`` and ``NAME.py`` (see the module docstring); return their paths by kind."""
    if model not in MODEL_CHOICES:
        raise ExportError(f'--model must be one of {MODEL_CHOICES}, got {model!r}')
    if not osp.isfile(config_path):
        raise ExportError(f'config {config_path} does not exist')
    if not osp.isfile(checkpoint_path):
        raise ExportError(f'checkpoint {checkpoint_path} does not exist')
    semi_cfg = Config.fromfile(config_path)
    if cfg_options:
        semi_cfg.merge_from_dict(cfg_options)
    checkpoint = read_checkpoint(checkpoint_path)
    weights = model_weights(semi_state_dict(checkpoint, checkpoint_path), model, checkpoint_path)
    cfg = plain_config(semi_cfg, config_path)
    check_loads_in_mmdet(cfg, weights, config_path)
    source_meta = checkpoint.get('meta') or {}
    meta = dict(dataset_meta=dataset_meta(checkpoint, cfg, config_path),
                exported_from=dict(checkpoint=osp.abspath(checkpoint_path), model=model,
                                   config=osp.abspath(config_path)))
    if isinstance(source_meta.get('iter'), int):  # training is iteration based
        meta['exported_from']['iter'] = source_meta['iter']

    out_dir = out_dir or osp.dirname(osp.abspath(checkpoint_path))
    name = name or f'{osp.splitext(osp.basename(checkpoint_path))[0]}_{model}'
    os.makedirs(out_dir, exist_ok=True)
    paths = dict(checkpoint=osp.join(out_dir, f'{name}.pth'), config=osp.join(out_dir, f'{name}.py'))
    if osp.abspath(paths['checkpoint']) == osp.abspath(checkpoint_path):
        raise ExportError(f'refusing to overwrite the source checkpoint {checkpoint_path}; '
                          f'choose --name')
    save_atomically(dict(meta=meta, state_dict=weights), paths['checkpoint'])
    cfg.dump(paths['config'])
    return paths
