"""Offline pseudo-labels for self-training: a detector labels unlabeled images and writes a COCO json.

The first stage of Noisy Student (Xie et al., CVPR 2020) and STAC (Sohn et al., 2020): a trained
detector (a plain one, or the teacher or the student of a teacher-student checkpoint) predicts on the
unlabeled images once, offline; a later training reads the file as annotations. Every detection with
``score >= score_floor`` is kept with its score, so the training chooses its own threshold without
labeling again. ``flip=True`` adds horizontal-flip test-time augmentation (STAC's).

The run is resumable and its output atomic (:mod:`ssod.apis.pseudo_label_store`): each rank appends a
line per finished image to ``<out>.parts/rank<R>.jsonl``; a rerun after a kill skips what is there.
When every rank is done, rank 0 merges the parts into ``out`` (``out.tmp``, fsync, ``os.replace``) and
removes the parts folder. Images are shared out ``rank::world_size`` and labeled one at a time, so the
same inputs give the same bytes whether or not the run was interrupted, on any number of ranks.
Pieces: the inputs (:mod:`~ssod.apis.pseudo_label_images`), the detector
(:mod:`~ssod.apis.pseudo_label_inference`), the COCO records (:mod:`~ssod.apis.pseudo_label_coco`).
"""
import hashlib
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.distributed as torch_dist
from mmengine.dist import all_gather_object, barrier, broadcast_object_list, get_dist_info, init_dist
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from ssod.compat.checkpoint_files import atomic_write_text
from . import pseudo_label_store as store
from .distributed import setup_launcher
from .pseudo_label_coco import assemble, image_entry
from .pseudo_label_images import (PseudoLabelError, config_classes, output_categories,
                                  read_image_list)
from .pseudo_label_inference import (Predictor, build_detector, choose_model, lower_score_threshold,
                                     one_thread_on_cpu)
from .runner import load_config

LAUNCHERS = ('none', 'pytorch', 'slurm')


@dataclass
class PseudoLabelSummary:
    """What a run wrote: the file, its images and boxes; of this rank's share of the images, how many
    it labeled in this run and how many an earlier, interrupted run had finished (not labeled again)."""

    out: str
    images: int
    boxes: int
    skipped: int
    labeled: int = 0


def _start_distributed(cfg, launcher: str) -> bool:
    """The process group of ``launcher`` (gloo without CUDA, as tools/train.py); True if started here."""
    if launcher == 'none' or torch_dist.is_initialized():
        return False
    setup_launcher(cfg, launcher)
    if not torch_dist.is_initialized():  # with CUDA: mmengine's own set-up, as the Runner does it
        init_dist(launcher, **dict(cfg.get('env_cfg', {}).get('dist_cfg') or {}))
    return True


def _on_rank0(action: Callable[[], object]):
    """Run ``action`` on rank 0 and hand its result, or its error, to every rank (so that no rank
    waits forever for one that failed)."""
    outcome = [None, None]
    if get_dist_info()[0] == 0:
        try:
            outcome[0] = action()
        except PseudoLabelError as error:
            outcome[1] = str(error)
    broadcast_object_list(outcome, src=0)
    if outcome[1] is not None:
        raise PseudoLabelError(outcome[1])
    return outcome[0]


def _device() -> str:
    return f'cuda:{torch.cuda.current_device()}' if torch.cuda.is_available() else 'cpu'


def _plain(value):
    return json.loads(json.dumps(value, default=str))


def write_pseudo_labels(config: str, checkpoint: str, images: str, out: str, *,
                        img_dir: Optional[str] = None, model: Optional[str] = None,
                        score_floor: float = 0.05, flip: bool = False, launcher: str = 'none',
                        cfg_options: Optional[dict] = None, progress: bool = True) -> PseudoLabelSummary:
    """Label ``images`` (a COCO json or a folder) with the detector of ``config`` + ``checkpoint`` and
    write the COCO json ``out`` (module docstring; docs/pseudo_label.md). Raises
    :class:`~ssod.apis.pseudo_label_images.PseudoLabelError` (a ``ConfigError``) for bad input."""
    if launcher not in LAUNCHERS:
        raise PseudoLabelError(f'--launcher {launcher!r}: choose one of {", ".join(LAUNCHERS)}')
    cfg = load_config(config, launcher, cfg_options, work_dir=None)
    if not osp.isfile(checkpoint):
        raise PseudoLabelError(f'checkpoint {checkpoint} does not exist')
    if osp.abspath(out) == osp.abspath(images):
        raise PseudoLabelError(f'--out {out} is the input file: choose another output path')
    choice = choose_model(cfg, model)
    image_list = read_image_list(images, img_dir)
    categories = output_categories(config_classes(cfg), image_list.categories)
    info = dict(description='pseudo-labels (score >= score_floor) of tools/pseudo_label.py',
                config=osp.abspath(config), checkpoint=osp.abspath(checkpoint), model=choice,
                score_floor=float(score_floor), flip=bool(flip), images=osp.abspath(images),
                img_dir=None if img_dir is None else osp.abspath(img_dir),
                cfg_options=_plain(cfg_options))
    stat = os.stat(checkpoint)
    run = dict(info, checkpoint_bytes=stat.st_size, checkpoint_mtime_ns=stat.st_mtime_ns,
               images_sha1=hashlib.sha1(json.dumps(image_list.records).encode()).hexdigest())
    lower_score_threshold(cfg, score_floor)

    started_here = _start_distributed(cfg, launcher)
    try:
        rank, world_size = get_dist_info()
        _on_rank0(lambda: store.start_run(out, run))
        store.check_run(out, run)
        store.repair_rank_file(out, rank)
        barrier()
        finished = store.read_finished(out)
        shard = range(rank, len(image_list.records), world_size)
        todo = [index for index in shard if image_list.records[index]['id'] not in finished]
        error = None
        try:
            if todo:
                _label(cfg, checkpoint, choice, flip, image_list, todo, categories, score_floor, out,
                       progress and rank == 0)
        except PseudoLabelError as raised:  # e.g. an unreadable image: every rank stops with it
            error = str(raised)
        errors = [message for message in all_gather_object(error) if message is not None]
        if errors:
            raise PseudoLabelError(errors[0])
        images_done, boxes = _on_rank0(lambda: _merge(out, image_list, categories, info))
    finally:
        if started_here:
            torch_dist.destroy_process_group()
    return PseudoLabelSummary(out=out, images=images_done, boxes=boxes, skipped=len(shard) - len(todo),
                              labeled=len(todo))


def _label(cfg, checkpoint, choice, flip, image_list, todo, categories, score_floor, out,
           progress) -> None:
    """Label the images ``todo`` (indices into ``image_list``), appending each to this rank's file."""
    init_default_scope(cfg.get('default_scope', 'ssod'))
    device = _device()
    predictor = Predictor(build_detector(cfg, checkpoint, choice, device), cfg, flip)
    bar = ProgressBar(len(todo)) if progress else None
    with one_thread_on_cpu(device), store.RankWriter(out, get_dist_info()[0]) as writer:
        for index in todo:
            record = image_list.records[index]
            found = predictor(image_list.paths[index], record['id'])
            writer.append(image_entry(record, *found, categories, score_floor))
            if bar is not None:
                bar.update()
    if bar is not None:
        bar.file.write('\n')


def _merge(out: str, image_list, categories, info) -> tuple:
    """Rank 0: the parts -> ``out`` (atomic), then the parts folder removed; (images, boxes)."""
    coco = assemble([record['id'] for record in image_list.records], store.read_finished(out),
                    categories, info)
    atomic_write_text(out, json.dumps(coco))
    store.remove_parts(out)
    return len(coco['images']), len(coco['annotations'])
