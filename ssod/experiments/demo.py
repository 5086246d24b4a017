"""The demo's controlled comparison: what the unlabeled images bought, with weight averaging accounted for.

1. **burn-in**: a supervised run on the labeled images (``burn_in_config``);
2. from its last checkpoint, byte for byte the same weights in both:
   * **Soft Teacher** (``semi_config``): labeled + unlabeled images, an EMA teacher;
   * **control** (``control_config``): the same config with unsupervised weight 0, i.e. the same labeled
     images per iteration, learning rate and EMA teacher, without the unlabeled images. Its EMA
     ("control") is what the Soft Teacher's teacher is compared with, so that the gain of weight
     averaging alone is not counted as a semi-supervised gain; its raw weights are reported too.

Each run keeps its result in ``<work_dir>/<phase>/result.json`` (:mod:`ssod.experiments.training_run`),
so a repeated or interrupted demo continues where it stopped.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional

from mmengine.config import Config

from .training_run import RunResult, train_run

BURN_IN, SEMI, CONTROL = 'burn_in', 'soft_teacher', 'control'


@dataclass
class DemoResult:
    burn_in: RunResult
    semi: RunResult
    control: RunResult

    def rows(self) -> Dict[str, Dict[str, float]]:
        """``{label: {'mAP': ..., 'mAP_50': ...}}`` for control (EMA), control raw, teacher, student."""
        def pick(metrics: Dict[str, float], model: str) -> Dict[str, float]:
            return dict(mAP=metrics[f'{model}/coco/bbox_mAP'], mAP_50=metrics[f'{model}/coco/bbox_mAP_50'])
        return {
            'control (EMA of the supervised continuation)': pick(self.control.metrics, 'teacher'),
            'control (raw weights)': pick(self.control.metrics, 'student'),
            'teacher (Soft Teacher, EMA)': pick(self.semi.metrics, 'teacher'),
            'student (Soft Teacher, raw weights)': pick(self.semi.metrics, 'student'),
        }

    def gain(self) -> Dict[str, float]:
        """Teacher minus control (both EMAs), in mAP points (x100)."""
        rows = self.rows()
        teacher, control = rows['teacher (Soft Teacher, EMA)'], rows['control (EMA of the supervised continuation)']
        return {key: 100.0 * (teacher[key] - control[key]) for key in ('mAP', 'mAP_50')}

    def report(self) -> List[str]:
        """The lines the demo prints: one per model, then the difference."""
        lines = [f'burn-in (supervised, {self.burn_in.iters} iterations, '
                 f'{self.burn_in.sec_per_iter:.2f} s/iter): val mAP '
                 f'{self.burn_in.metrics["coco/bbox_mAP"]:.3f}   mAP@0.5 '
                 f'{self.burn_in.metrics["coco/bbox_mAP_50"]:.3f}',
                 f'then {self.semi.iters} iterations from that checkpoint: Soft Teacher '
                 f'{self.semi.sec_per_iter:.2f} s/iter, control {self.control.sec_per_iter:.2f} s/iter']
        for label, values in self.rows().items():
            lines.append(f'val bbox mAP {label:<46}: {values["mAP"]:.3f}   mAP@0.5: {values["mAP_50"]:.3f}')
        gain = self.gain()
        lines.append(f'teacher - control: {gain["mAP"]:+.1f} mAP points   {gain["mAP_50"]:+.1f} mAP@0.5 points')
        return lines


def run_demo(burn_in_config: str, semi_config: str, control_config: str, work_dir: str, seed: int = 0,
             cfg_options: Optional[dict] = None) -> DemoResult:
    """Run the three phases (see the module docstring) in ``work_dir/{burn_in,soft_teacher,control}``.

    ``cfg_options`` are merged into all three configs (e.g. a device or data root)."""
    def load(path: str) -> Config:
        cfg = Config.fromfile(path)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        return cfg

    burn_in = train_run(load(burn_in_config), osp.join(work_dir, BURN_IN), seed, BURN_IN)
    semi = train_run(load(semi_config), osp.join(work_dir, SEMI), seed, SEMI, load_from=burn_in.checkpoint)
    control = train_run(load(control_config), osp.join(work_dir, CONTROL), seed, CONTROL,
                        load_from=burn_in.checkpoint)
    return DemoResult(burn_in=burn_in, semi=semi, control=control)
