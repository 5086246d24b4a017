"""Evaluate the teacher and the student of a semi-supervised detector in one validation / test run.

Config::

    val_cfg = dict(type='SemiValLoop')                      # teacher, then student
    val_cfg = dict(type='SemiValLoop', models=['student'])  # one of them
    test_cfg = dict(type='SemiTestLoop', models=['teacher', 'student'])

For a teacher-student model (:class:`~ssod.models.detectors.semi_base.SemiBaseDetector`, or any model
with ``teacher``, ``student`` and ``semi_test_cfg['predict_on']``) the loop runs the whole dataloader
once per entry of ``models``, with ``semi_test_cfg['predict_on']`` set to that entry, evaluates, and
prefixes the metric keys with the model's name: ``teacher/coco/bbox_mAP``, ``student/coco/bbox_mAP``.
All keys reach ``after_val_epoch`` together, so ``CheckpointHook(save_best='teacher/coco/bbox_mAP')``
(or ``'student/...'``, or a list of both) keeps the best checkpoint by either model, and both are logged
(text log and TensorBoard). ``predict_on`` is restored afterwards, also when evaluation fails: what
``model.predict`` uses outside this loop never changes silently. Which model is being evaluated is
logged once per pass.

For any other model the loops behave exactly like mmengine's ``ValLoop`` / ``TestLoop``.

Differences from mmdet 3.3's ``TeacherStudentValLoop`` (``mmdet/engine/runner/loops.py``):
``predict_on`` is restored to its value (mmdet writes back ``None`` when the key was absent, after which
its detector predicts with the student); validation losses are kept per model, the metrics are
returned, the evaluated models are configurable, and a test loop exists too.

Files written during a test run with more than one model: every metric with an ``out_file_path``
(mmdet's ``DumpDetResults``, ``tools/test.py --out``) writes ``<name>.<model><ext>`` and every
visualization hook with a ``test_out_dir`` (``--show-dir``) writes into ``<dir>/<model>/``, so the
second pass does not overwrite the first one's files. With a single model the paths are untouched.

Caveat: mmdet's ``CocoMetric`` reports no keys at all for a model without any detection (above
``test_cfg.rcnn.score_thr``), e.g. a teacher very early in training; the loop logs a warning, and a
``CheckpointHook(save_best='teacher/...')`` then stops with a ``KeyError`` (as it would for
``coco/bbox_mAP`` in plain mmdet). Validate after the teacher has learned something.
"""
import contextlib
import logging
import os.path as osp
from typing import Dict, Iterator, List, Sequence, Union

from mmengine.evaluator import Evaluator
from mmengine.logging import print_log
from mmengine.runner.loops import TestLoop, ValLoop, _parse_losses
from torch.utils.data import DataLoader

from ssod.registry import LOOPS
from .hooks.model_access import unwrap_model

MODEL_NAMES = ('teacher', 'student')


def is_teacher_student(model) -> bool:
    """True for a model with a teacher, a student and ``semi_test_cfg['predict_on']``."""
    model = unwrap_model(model)
    cfg = getattr(model, 'semi_test_cfg', None)
    return (hasattr(model, 'teacher') and hasattr(model, 'student') and cfg is not None
            and 'predict_on' in cfg)


@contextlib.contextmanager
def predicting_with(model, name: str) -> Iterator[None]:
    """Set ``semi_test_cfg['predict_on'] = name`` inside the block; restore the old value after it."""
    if name not in MODEL_NAMES:
        raise ValueError(f'cannot predict with {name!r}; choose from {MODEL_NAMES}')
    cfg = unwrap_model(model).semi_test_cfg
    previous = cfg['predict_on']
    cfg['predict_on'] = name
    try:
        yield
    finally:
        cfg['predict_on'] = previous


def check_model_names(models: Sequence[str]) -> List[str]:
    models = [models] if isinstance(models, str) else list(models)
    if not models:
        raise ValueError(f'models must name at least one of {MODEL_NAMES}')
    unknown = [m for m in models if m not in MODEL_NAMES]
    if unknown or len(set(models)) != len(models):
        raise ValueError(f'models must be distinct entries of {MODEL_NAMES}, got {models}')
    return models


def with_model_suffix(path: str, name: str) -> str:
    """``results.pkl`` -> ``results.teacher.pkl``."""
    root, ext = osp.splitext(path)
    return f'{root}.{name}{ext}'


class _TeacherStudentPasses:
    """Shared logic of the two loops: one pass over the dataloader per model, prefixed metrics."""

    mode = ''  # 'val' or 'test'
    models: List[str]

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 evaluator: Union[Evaluator, Dict, List],
                 fp16: bool = False,
                 models: Sequence[str] = MODEL_NAMES) -> None:
        super().__init__(runner, dataloader, evaluator, fp16=fp16)
        self.models = check_model_names(models)

    def _losses(self) -> dict:
        """The mmengine loop's per-pass loss buffer (``val_loss`` / ``test_loss``)."""
        return getattr(self, f'{self.mode}_loss')

    def run(self) -> dict:
        if not is_teacher_student(self.runner.model):
            return super().run()
        return self._run_passes()

    def _one_pass(self) -> dict:
        losses = self._losses()
        losses.clear()
        for idx, data_batch in enumerate(self.dataloader):
            self.run_iter(idx, data_batch)
        metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        if losses:
            metrics.update(_parse_losses(losses, self.mode))
        return metrics

    @contextlib.contextmanager
    def _outputs_for(self, name: str) -> Iterator[None]:
        """Per-model result files and picture folders (test runs with several models only)."""
        if self.mode != 'test' or len(self.models) < 2:
            yield
            return
        saved = []
        for metric in self.evaluator.metrics:
            if getattr(metric, 'out_file_path', None):
                saved.append((metric, 'out_file_path', metric.out_file_path))
                metric.out_file_path = with_model_suffix(metric.out_file_path, name)
        for hook in self.runner.hooks:
            if getattr(hook, 'test_out_dir', None):
                saved.append((hook, 'test_out_dir', hook.test_out_dir))
                hook.test_out_dir = osp.join(hook.test_out_dir, name)
        try:
            yield
        finally:
            for owner, attribute, value in saved:
                setattr(owner, attribute, value)

    def _run_passes(self) -> dict:
        self.runner.call_hook(f'before_{self.mode}')
        self.runner.call_hook(f'before_{self.mode}_epoch')
        self.runner.model.eval()
        metrics: Dict[str, object] = {}
        for name in self.models:
            print_log(f'{type(self).__name__}: evaluating the {name}', logger='current',
                      level=logging.INFO)
            with predicting_with(self.runner.model, name), self._outputs_for(name):
                pass_metrics = self._one_pass()
            if not pass_metrics:
                # mmdet's CocoMetric returns nothing when a model has no detection above its score
                # threshold; a CheckpointHook(save_best='<name>/...') then fails with a KeyError.
                print_log(f'{type(self).__name__}: the {name} gave no metrics (no detections?)',
                          logger='current', level=logging.WARNING)
            metrics.update({f'{name}/{key}': value for key, value in pass_metrics.items()})
        self.runner.call_hook(f'after_{self.mode}_epoch', metrics=metrics)
        self.runner.call_hook(f'after_{self.mode}')
        return metrics


@LOOPS.register_module()
class SemiValLoop(_TeacherStudentPasses, ValLoop):
    """Validation of the teacher and the student (see the module docstring).

    Args:
        runner, dataloader, evaluator, fp16: as mmengine's ``ValLoop``.
        models: the models of a teacher-student detector to evaluate, in this order.
            Default ``('teacher', 'student')``.
    """

    mode = 'val'


@LOOPS.register_module()
class SemiTestLoop(_TeacherStudentPasses, TestLoop):
    """Test of the teacher and/or the student (``tools/test.py --model teacher|student|both``).

    Args:
        runner, dataloader, evaluator, fp16: as mmengine's ``TestLoop``.
        models: as :class:`SemiValLoop`.
    """

    mode = 'test'
