"""The config of an evaluation run as ``tools/test.py`` builds it: a checkpoint of a plain detector, or
the teacher and/or the student of a semi-supervised one (``SemiTestLoop``), optionally dumping the
detections and drawing pictures. The test data is checked before anything is built. Raises
:class:`~ssod.apis.config_checks.ConfigError` (the message says what to do)."""
import os.path as osp
from typing import Optional

from mmengine.config import Config

from .config_checks import ConfigError
from .data_checks import preflight_check
from .runner import load_config

MODEL_CHOICES = ('teacher', 'student', 'both')


def is_teacher_student_config(cfg: Config) -> bool:
    """Semi-supervised detectors wrap a detector config (``model.detector``)."""
    return isinstance(cfg.get('model'), dict) and 'detector' in cfg.model


def select_models(cfg: Config, choice) -> None:
    """Replace the test loop by ``SemiTestLoop`` over the chosen model(s)."""
    if not is_teacher_student_config(cfg):
        if choice is not None:
            raise ConfigError(f'--model {choice} needs a teacher-student config (model.detector); '
                              f'{cfg.model.get("type")} is a plain detector: leave --model out.')
        return
    if choice is None:
        choice = (cfg.model.get('semi_test_cfg') or {}).get('predict_on', 'teacher')
    models = ['teacher', 'student'] if choice == 'both' else [choice]
    test_cfg = dict(cfg.get('test_cfg') or {})
    test_cfg.pop('type', None)
    test_cfg.pop('models', None)
    cfg.test_cfg = dict(type='SemiTestLoop', models=models, **test_cfg)


def add_dump(cfg: Config, out: str) -> None:
    """Add mmdet's ``DumpDetResults`` writing the detections to ``out`` (a ``.pkl`` / ``.pickle``)."""
    if not out.endswith(('.pkl', '.pickle')):
        raise ConfigError(f'--out {out}: the results file must end in .pkl or .pickle')
    evaluators = cfg.test_evaluator
    evaluators = list(evaluators) if isinstance(evaluators, (list, tuple)) else [evaluators]
    evaluators.append(dict(type='DumpDetResults', out_file_path=out))
    cfg.test_evaluator = evaluators


def enable_pictures(cfg: Config, show_dir: str) -> None:
    """Let the config's ``DetVisualizationHook`` draw every test image into ``show_dir``."""
    hooks = cfg.get('default_hooks') or {}
    if 'visualization' not in hooks:
        raise ConfigError('--show-dir needs default_hooks.visualization (DetVisualizationHook) in the '
                          'config; this config has none.')
    hooks.visualization.update(draw=True, test_out_dir=show_dir, interval=1)


def evaluation_config(config: str, checkpoint: str, launcher: str = 'none',
                      cfg_options: Optional[dict] = None, work_dir: Optional[str] = None,
                      model: Optional[str] = None, out: Optional[str] = None,
                      show_dir: Optional[str] = None) -> Config:
    """The checked config that evaluates ``checkpoint`` (``model``: one of :data:`MODEL_CHOICES`, or
    ``None`` for the config's ``semi_test_cfg.predict_on``)."""
    if osp.isfile(config) and not osp.isfile(checkpoint):
        raise ConfigError(f'checkpoint {checkpoint} does not exist')
    cfg = load_config(config, launcher, cfg_options, work_dir)
    cfg.load_from = checkpoint
    cfg.resume = False
    select_models(cfg, model)
    if out is not None:
        add_dump(cfg, out)
    if show_dir is not None:
        enable_pictures(cfg, show_dir)
    preflight_check(cfg, phases=('test', ))
    return cfg
