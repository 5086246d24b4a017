"""Noisy Student self-training for detection (Xie et al., CVPR 2020; in detection, STAC: Sohn et al. 2020),
round by round, in one work dir.

A self-training config is the *student's* training config (labeled images plus a
``PseudoLabeledCocoDataset`` in its ``train_dataloader``) with one extra section::

    self_training = dict(
        teacher_config='configs/...burn_in.py',  # round 0: the teacher trained on the labeled images
        teacher_checkpoint=None,                  # or an existing checkpoint (plain or teacher-student)
        teacher_model=None,                       # 'teacher' | 'student' for a teacher-student checkpoint
        unlabeled_ann_file='data/.../unlabeled.json',  # the images to pseudo-label (COCO json or folder)
        unlabeled_img_dir=None,                   # default: the pseudo dataset's data_root + data_prefix.img
        hidden_gt_file=None,                      # ground truth of the unlabeled images, to measure the labels
        score_floor=0.05,                         # written to the file; the dataset's score_thr selects later
        flip=False,                               # horizontal-flip test-time augmentation of the labeller
        student_init='config')                    # 'config': the config's initialisation (ImageNet backbone,
                                                  # as the paper's students); 'previous': the last round's model

Round ``r`` (1, 2, ...) in ``<work_dir>/round<r>/``:

1. ``pseudo_labels.json``: the round's teacher (round 0's for r = 1, else round ``r-1``'s student) labels
   the unlabeled images (:func:`ssod.apis.pseudo_label.write_pseudo_labels`: resumable, atomic);
2. ``student/``: the student trains on labeled + pseudo-labeled images (the config's noise: strong
   augmentation, dropout, stochastic depth), resuming from its newest checkpoint after a kill, and is
   evaluated on the val set after its last iteration;
3. ``round.json``: the round's record (:class:`RoundRecord`), written last: a round with it is done.

The student of round ``r`` is the teacher of round ``r + 1`` (the paper's iteration).
"""
import copy
import json
import os
import os.path as osp
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List, Optional

from mmengine.config import Config

from ..apis.config_checks import ConfigError
from ..apis.export import model_weights, read_checkpoint, save_atomically, semi_state_dict
from ..apis.split_placeholders import PLACEHOLDERS, resolve_split_placeholders
from ..apis.pseudo_label import write_pseudo_labels
from ..evaluation.pseudo_label_file import pseudo_label_counts, pseudo_label_quality
from .training_run import train_run

PSEUDO_DATASET = 'PseudoLabeledCocoDataset'
ROUND_FILE = 'round.json'
STUDENT_INITS = ('config', 'previous')


@dataclass
class SelfTrainingSpec:
    """The ``self_training`` section of a config (see the module doc)."""
    teacher_config: str
    unlabeled_ann_file: str
    teacher_checkpoint: Optional[str] = None
    teacher_model: Optional[str] = None
    unlabeled_img_dir: Optional[str] = None
    hidden_gt_file: Optional[str] = None
    score_floor: float = 0.05
    flip: bool = False
    student_init: str = 'config'

    @classmethod
    def from_config(cls, cfg: Config, source: str = 'the config') -> 'SelfTrainingSpec':
        section = cfg.get('self_training')
        if not isinstance(section, dict):
            raise ConfigError(f'{source} has no self_training section: a self-training config is the '
                              f"student's training config plus self_training=dict(teacher_config=..., "
                              f'unlabeled_ann_file=...) (see configs/noisy_student/)')
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(f'{source}: self_training has unknown keys {unknown}; known: {sorted(known)}')
        for key in ('teacher_config', 'unlabeled_ann_file'):
            if not section.get(key):
                raise ConfigError(f'{source}: self_training.{key} is missing')
        spec = cls(**dict(section))
        if spec.student_init not in STUDENT_INITS:
            raise ConfigError(f'{source}: self_training.student_init={spec.student_init!r}; use one of '
                              f'{STUDENT_INITS}')
        return spec


@dataclass
class RoundRecord:
    """One finished round: the labeller, its labels (boxes kept at the student's ``score_thr``, their
    precision / recall against hidden ground truth when known), and the student's val metrics."""
    round: int
    teacher_checkpoint: str
    pseudo_label_file: str
    pseudo_images: int
    pseudo_boxes: int
    pseudo_precision: Optional[float]
    pseudo_recall: Optional[float]
    metrics: Dict[str, float] = field(default_factory=dict)
    checkpoint: str = ''
    iters: int = 0
    sec_per_iter: float = float('nan')

    @property
    def mAP(self) -> float:
        return self.metrics.get('coco/bbox_mAP', float('nan'))

    @property
    def mAP_50(self) -> float:
        return self.metrics.get('coco/bbox_mAP_50', float('nan'))

    def save(self, path: str) -> None:
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(asdict(self), f, indent=1)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str) -> 'RoundRecord':
        with open(path) as f:
            return cls(**json.load(f))


def pseudo_datasets(cfg: Config) -> List[dict]:
    """The ``PseudoLabeledCocoDataset`` nodes of ``cfg.train_dataloader`` (nested wrappers included)."""
    found = []

    def visit(node):
        if isinstance(node, dict):
            if node.get('type') == PSEUDO_DATASET:
                found.append(node)
            for value in node.values():
                visit(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                visit(value)
    visit(cfg.get('train_dataloader', {}))
    return found


def student_config(cfg: Config, pseudo_label_file: str) -> Config:
    """``cfg`` whose pseudo-labeled dataset(s) read ``pseudo_label_file`` (an absolute path, so the
    dataset's ``data_root`` is not prepended), without its ``self_training`` section; ``cfg`` itself is
    not changed."""
    cfg = copy.deepcopy(cfg)
    nodes = pseudo_datasets(cfg)
    if not nodes:
        raise ConfigError(f'the student config has no {PSEUDO_DATASET} in train_dataloader: add one (its '
                          f'ann_file is set to each round\'s pseudo_labels.json)')
    for node in nodes:
        node['ann_file'] = osp.abspath(pseudo_label_file)
    cfg.pop('self_training', None)
    return cfg


def _unlabeled_img_dir(cfg: Config, spec: SelfTrainingSpec) -> Optional[str]:
    if spec.unlabeled_img_dir:
        return spec.unlabeled_img_dir
    if osp.isdir(spec.unlabeled_ann_file):
        return None
    node = pseudo_datasets(cfg)[0] if pseudo_datasets(cfg) else {}
    prefix = (node.get('data_prefix') or {}).get('img', '')
    return osp.join(node.get('data_root') or '', prefix) or None


def score_thr_of(cfg: Config) -> float:
    """The ``score_thr`` the student's pseudo-labeled dataset trains with (its default when unset)."""
    from ..datasets.pseudo_labeled_coco import PseudoLabeledCocoDataset
    nodes = pseudo_datasets(cfg)
    default = PseudoLabeledCocoDataset.DEFAULT_SCORE_THR
    return float(nodes[0].get('score_thr', default)) if nodes else default


def run_self_training(cfg: Config, rounds: int, work_dir: str, seed: int = 0,
                      adjust: Optional[Callable[[Config], Config]] = None,
                      log: Callable[[str], None] = print) -> List[RoundRecord]:
    """Run (or continue) rounds ``1..rounds`` of self-training for the config ``cfg`` in ``work_dir``.

    ``adjust`` (optional) is applied to every config built here (the round-0 teacher's, which also labels
    round 1, and the students'), e.g. to move their data or change their length in a benchmark. Returns
    one :class:`RoundRecord` per round."""
    if rounds < 1:
        raise ConfigError(f'--rounds {rounds}: at least one round is needed')
    cfg = resolve_split_placeholders(cfg)  # {fold} / {percent} of the COCO configs, self_training included
    spec = SelfTrainingSpec.from_config(cfg)
    adjust = adjust or (lambda c: c)
    teacher_checkpoint, teacher_config, teacher_model = _round0_teacher(cfg, spec, work_dir, seed, adjust, log)
    classes = _classes(cfg)
    records = []
    for index in range(1, rounds + 1):
        round_dir = osp.join(work_dir, f'round{index}')
        record_path = osp.join(round_dir, ROUND_FILE)
        if osp.isfile(record_path):
            record = RoundRecord.load(record_path)
            log(f'round {index}: done before (student mAP {record.mAP:.3f})')
        else:
            record = _run_round(cfg, spec, index, round_dir, seed, teacher_config, teacher_checkpoint,
                                teacher_model, classes, adjust, log)
            record.save(record_path)
        records.append(record)
        teacher_config = student_config(cfg, record.pseudo_label_file)
        teacher_checkpoint, teacher_model = record.checkpoint, None
    return records


def teacher_config_of(cfg: Config, spec: SelfTrainingSpec) -> Config:
    """The round-0 teacher's config, on the student's split: ``fold`` / ``percent`` of the student config
    are given to a teacher config that has them."""
    if not osp.isfile(spec.teacher_config):
        raise ConfigError(f'self_training.teacher_config {spec.teacher_config} does not exist')
    teacher_cfg = Config.fromfile(spec.teacher_config)
    teacher_cfg.merge_from_dict({key: cfg[key] for key in PLACEHOLDERS if key in cfg and key in teacher_cfg})
    return resolve_split_placeholders(teacher_cfg)


def _round0_teacher(cfg: Config, spec: SelfTrainingSpec, work_dir: str, seed: int, adjust, log):
    """The first labeller: the given checkpoint, or the teacher config trained in ``round0/teacher``."""
    teacher_cfg = adjust(teacher_config_of(cfg, spec))
    if spec.teacher_checkpoint:
        if not osp.isfile(spec.teacher_checkpoint):
            raise ConfigError(f'self_training.teacher_checkpoint {spec.teacher_checkpoint} does not exist')
        return spec.teacher_checkpoint, teacher_cfg, spec.teacher_model
    log('round 0: training the teacher on the labeled images')
    result = train_run(teacher_cfg, osp.join(work_dir, 'round0', 'teacher'), seed, 'teacher', resume=True)
    log(f'round 0: teacher mAP {result.metrics.get("coco/bbox_mAP", float("nan")):.3f}')
    return result.checkpoint, teacher_cfg, spec.teacher_model


def _classes(cfg: Config) -> tuple:
    nodes = pseudo_datasets(cfg)
    metainfo = (nodes[0].get('metainfo') or {}) if nodes else {}
    return tuple(metainfo.get('classes', ()))


def _run_round(cfg, spec, index, round_dir, seed, teacher_config, teacher_checkpoint, teacher_model,
               classes, adjust, log) -> RoundRecord:
    os.makedirs(round_dir, exist_ok=True)
    labels = osp.join(round_dir, 'pseudo_labels.json')
    if not osp.isfile(labels):
        log(f'round {index}: pseudo-labelling {spec.unlabeled_ann_file} with {teacher_checkpoint}')
        config_file = _as_file(teacher_config, osp.join(round_dir, 'teacher_config.py'))
        write_pseudo_labels(config_file, teacher_checkpoint, spec.unlabeled_ann_file, labels,
                            img_dir=_unlabeled_img_dir(cfg, spec), model=teacher_model,
                            score_floor=spec.score_floor, flip=spec.flip, progress=False)
    score_thr = score_thr_of(cfg)
    images, boxes = pseudo_label_counts(labels, score_thr)
    precision = recall = None
    if spec.hidden_gt_file:
        precision, recall = pseudo_label_quality(labels, spec.hidden_gt_file, classes, score_thr)
    log(f'round {index}: {boxes} pseudo boxes >= {score_thr} on {images} images'
        + ('' if precision is None else f', precision {precision:.3f} recall {recall:.3f} vs hidden GT'))
    if images == 0:
        raise ConfigError(f'round {index}: no box of {labels} has a score >= {score_thr} (the pseudo '
                          f"dataset's score_thr), so the student would have no pseudo-labeled image. Lower "
                          f'score_thr, or train the teacher longer.')
    student = adjust(student_config(cfg, labels))
    load_from = None
    if spec.student_init == 'previous':
        load_from = plain_weights(teacher_checkpoint, teacher_model or 'teacher',
                                  osp.join(round_dir, 'student_init.pth'))
    result = train_run(student, osp.join(round_dir, 'student'), seed, f'student_round{index}',
                       load_from=load_from, resume=True)
    record = RoundRecord(round=index, teacher_checkpoint=teacher_checkpoint, pseudo_label_file=labels,
                         pseudo_images=images, pseudo_boxes=boxes, pseudo_precision=precision,
                         pseudo_recall=recall, metrics=result.metrics, checkpoint=result.checkpoint,
                         iters=result.iters, sec_per_iter=result.sec_per_iter)
    log(f'round {index}: student mAP {record.mAP:.3f} (mAP@0.5 {record.mAP_50:.3f})')
    return record


def plain_weights(checkpoint: str, model: str, out: str) -> str:
    """``checkpoint`` itself when it holds a plain detector; for a teacher-student checkpoint, its
    ``model`` ('teacher' or 'student') written to ``out`` without the prefix, so that a plain student
    can start from it (``load_from`` of a prefixed state dict would silently match no key)."""
    state = semi_state_dict(read_checkpoint(checkpoint), checkpoint)
    if not any(key.startswith(('teacher.', 'student.')) for key in state):
        return checkpoint
    if not osp.isfile(out):
        save_atomically({'state_dict': model_weights(state, model, checkpoint),
                         'meta': {'converted_from': checkpoint, 'model': model}}, out)
    return out


def _as_file(cfg: Config, path: str) -> str:
    """The labeller's config as a file (the pseudo-label writer reads configs from files), with what this
    protocol changed in memory (split placeholders, the round's pseudo-label file) written out."""
    cfg = copy.deepcopy(cfg)
    cfg.pop('self_training', None)
    cfg.dump(path)
    return path


def markdown_table(records: List[RoundRecord]) -> str:
    """The per-round table ``tools/self_train.py`` prints."""
    lines = ['| round | pseudo boxes (images) | precision / recall vs hidden GT | student val mAP | '
             'mAP@0.5 | s / iter |', '| --- | --- | --- | --- | --- | --- |']
    for r in records:
        quality = ('–' if r.pseudo_precision is None
                   else f'{r.pseudo_precision:.3f} / {r.pseudo_recall:.3f}')
        lines.append(f'| {r.round} | {r.pseudo_boxes} ({r.pseudo_images}) | {quality} | {r.mAP:.3f} | '
                     f'{r.mAP_50:.3f} | {r.sec_per_iter:.2f} |')
    return '\n'.join(lines) + '\n'
