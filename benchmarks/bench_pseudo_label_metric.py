"""Cost of the online pseudo-label quality metric: its share of a SoftTeacher training iteration.

The metric (ssod/evaluation/online_pseudo_quality.py) matches the teacher's candidates of every unlabeled
batch against the batch's hidden ground truth after each filter stage. This script measures what that
adds to an iteration, two ways, in one process:

* **side by side**: the same model runs ``model.train_step`` on the same batch twice per round, once
  with the hidden GT in the teacher views' metainfo and once with it removed (then the metric only
  counts pseudo boxes per class and returns); the order alternates every round so that drifts of the
  machine's load hit both alike. Reported: median and mean seconds per iteration of each arm and the
  ratio with / without;
* **direct**: the wall time spent inside ``PseudoLabelQualityLogger.log`` during the with-GT
  iterations, as a share of those iterations' time (the less noisy figure of the two).

Data: ``--data synthetic`` (default) generates a shapes set of ``--image-size`` px in a temporary
directory; ``--data tree_crowns`` reads data/tree_crowns (``make data``). The batches come from the
semi-supervised pipelines of configs/_base_/datasets/semi_<data>.py (which pack the hidden GT into the
teacher view), ``--labeled`` labeled + the rest unlabeled images per batch.

Thresholds: a from-scratch teacher scores almost nothing above the paper's 0.5 / 0.9, which would make
the metric trivially cheap; ``--pseudo-thr`` (default 0.05) replaces pseudo_label_initial_score_thr,
rpn_pseudo_thr and cls_pseudo_thr, so up to the test_cfg's 100 detections per image become candidates
at every stage (the metric's worst case). ``--paper-thr`` uses the paper's 0.5 / 0.9 / 0.9.

Usage: python benchmarks/bench_pseudo_label_metric.py [--rounds 10] [--warmup 2] [--batch 8]
           [--labeled 2] [--image-size 256] [--data synthetic|tree_crowns] [--device cpu|cuda]
           [--pseudo-thr 0.05 | --paper-thr] [--threads N]
Prints a table; asserts nothing. About 1-2 minutes on 2 CPU cores with the defaults.
"""
import argparse
import copy
import statistics
import tempfile
import time

import torch

# The data sets, threshold keys and batches are those of the iteration benchmark (the unlabeled
# samples of the semi data configs carry hidden GT); Python puts this script's folder first on the
# module path, so its sibling imports as is.
from bench_iteration import DATA_SETS, PAPER_THRESHOLDS, THRESHOLD_KEYS, build_batches
HIDDEN_KEYS = ('hidden_gt_bboxes', 'hidden_gt_labels')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=10, help='timed rounds (one iteration per arm)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed rounds first')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--image-size', type=int, default=256, help='side of the synthetic images')
    parser.add_argument('--batch', type=int, default=8, help='images per iteration')
    parser.add_argument('--labeled', type=int, default=2, help='labeled images per batch')
    parser.add_argument('--pseudo-thr', type=float, default=0.05)
    parser.add_argument('--paper-thr', action='store_true')
    parser.add_argument('--data', choices=sorted(DATA_SETS), default='synthetic')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch intra-op threads (default: torch\'s own choice)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if not 0 < args.labeled < args.batch:
        parser.error(f'--labeled must be in [1, batch - 1], got {args.labeled}')
    if args.rounds < 1 or args.warmup < 0:
        parser.error('--rounds must be >= 1 and --warmup >= 0')
    return args


def build_model(args):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from ssod.registry import MODELS
    init_default_scope('ssod')
    cfg = copy.deepcopy(Config.fromfile(DATA_SETS[args.data][1]['r18_tiny']).model)
    for key in THRESHOLD_KEYS:
        cfg['semi_train_cfg'][key] = PAPER_THRESHOLDS[key] if args.paper_thr else args.pseudo_thr
    torch.manual_seed(args.seed)
    model = MODELS.build(cfg)
    model.init_weights()
    model.teacher.load_state_dict(model.student.state_dict())
    return model.to(args.device)


def teacher_samples(batch):
    """The unlabeled images' teacher-view data samples of a collated batch (``pseudo_collate`` turns
    the per-sample ``{branch: sample}`` dicts into ``{branch: [sample or None, ...]}``)."""
    return [s for s in batch['data_samples'].get('unsup_teacher', []) if s is not None]


def without_hidden_gt(batch):
    """A copy of the collated batch whose teacher views carry no hidden GT."""
    batch = copy.deepcopy(batch)
    for teacher in teacher_samples(batch):
        for key in HIDDEN_KEYS:
            if key in teacher.metainfo:
                delattr(teacher, key)
    return batch


def count_hidden(batch):
    return sum(len(s.hidden_gt_labels) for s in teacher_samples(batch) if 'hidden_gt_labels' in s)


class LogTimer:
    """Wraps the model's quality logger: accumulated seconds inside ``log`` while ``active``."""

    def __init__(self, model, device):
        self.seconds, self.active, self.device = 0.0, False, device
        self._log = model.pseudo_quality.log
        model.pseudo_quality.log = self

    def __call__(self, *args, **kwargs):
        synchronize(self.device)
        start = time.perf_counter()
        result = self._log(*args, **kwargs)
        synchronize(self.device)
        if self.active:
            self.seconds += time.perf_counter() - start
        return result


def synchronize(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def timed_iteration(model, optim_wrapper, batch, seed, device):
    torch.manual_seed(seed)
    model.train()
    synchronize(device)
    start = time.perf_counter()
    model.train_step(copy.deepcopy(batch), optim_wrapper)
    synchronize(device)
    return time.perf_counter() - start


def quiet():
    """No per-parameter init messages (nor the metric's 'not logged' line of the without-GT arm)."""
    import logging
    import warnings
    from mmengine.logging import MMLogger
    warnings.filterwarnings('ignore')
    MMLogger.get_instance('bench_pseudo_label_metric', log_level='WARNING')
    logging.getLogger('mmengine').setLevel(logging.WARNING)


def main(argv=None):
    args = parse_args(argv)
    quiet()
    import ssod  # noqa: F401
    from mmengine.logging import MessageHub
    from mmengine.optim import OptimWrapper
    if args.threads:
        torch.set_num_threads(args.threads)
    MessageHub.get_instance('bench_pseudo_label_metric')
    with tempfile.TemporaryDirectory() as root:
        if args.data == 'synthetic':
            from ssod.data import synthetic
            synthetic.generate(root, num_images=32, image_size=args.image_size, num_classes=3,
                               labeled_percent=50, val_images=1, seed=args.seed, workers=1,
                               print_fn=lambda *_: None)
        count = args.warmup + args.rounds
        with_gt = build_batches(root, args, count)
    plain = [without_hidden_gt(b) for b in with_gt]
    model = build_model(args)
    optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9))
    timer = LogTimer(model, args.device)
    times = dict(with_gt=[], without_gt=[])
    for i in range(count):
        arms = [('with_gt', with_gt[i]), ('without_gt', plain[i])]
        if i % 2:
            arms.reverse()
        for name, batch in arms:
            timer.active = name == 'with_gt' and i >= args.warmup
            seconds = timed_iteration(model, optim_wrapper, batch, args.seed + i, args.device)
            if i >= args.warmup:
                times[name].append(seconds)
    timer.active = False
    hub = MessageHub.get_current_instance()
    last = {k: round(v.current(), 3) for k, v in hub.log_scalars.items()
            if 'precision' in k or 'recall' in k or 'gt_per_img' in k}

    thr = 'paper thresholds' if args.paper_thr else f'pseudo thresholds {args.pseudo_thr}'
    print(f'{args.data}, batch {args.batch} ({args.labeled} labeled), {args.image_size} px, {thr}, '
          f'{args.device} ({torch.get_num_threads()} threads), {args.rounds} rounds after '
          f'{args.warmup} warm-up')
    print(f'hidden GT boxes per batch: {statistics.mean(count_hidden(b) for b in with_gt):.1f}')
    print(f'{"arm":<12} {"median s/iter":>14} {"mean s/iter":>12}')
    for name, values in times.items():
        print(f'{name:<12} {statistics.median(values):14.4f} {statistics.mean(values):12.4f}')
    ratio = statistics.median(times['with_gt']) / statistics.median(times['without_gt'])
    share = timer.seconds / sum(times['with_gt'])
    print(f'side by side: with / without hidden GT (medians) = {ratio:.4f} '
          f'({(ratio - 1) * 100:+.2f} %)')
    print(f'direct: time inside the metric = {timer.seconds:.4f} s of {sum(times["with_gt"]):.2f} s '
          f'= {share * 100:.2f} % of the with-GT iterations')
    print(f'last logged values: {last}')


if __name__ == '__main__':
    main()
