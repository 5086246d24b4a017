"""Training-iteration cost: ssod's SoftTeacher vs MMDetection 3.3's SoftTeacher on identical batches.

Both detectors are built from the same config (configs/soft_teacher/soft_teacher_faster_rcnn_r18_tiny_
synthetic.py: the tiny from-scratch Faster R-CNN, 3 classes), one as ``type='ssod.SoftTeacher'``, one as
``type='mmdet.SoftTeacher'``; ``semi_train_cfg`` uses the same key names in both (mmdet's names:
freeze_teacher, sup_weight, unsup_weight, pseudo_label_initial_score_thr, rpn_pseudo_thr, cls_pseudo_thr,
reg_pseudo_thr, jitter_times, jitter_scale, min_pseudo_bbox_wh). ssod's model gets mmdet's initial
weights (teacher = student, as EMATeacherHook does at the start of a run), so both start equal.

Data: a synthetic shapes set of ``--image-size`` px is generated in a temporary directory and pushed
ONCE through the semi-supervised pipelines of configs/_base_/datasets/semi_synthetic.py (labeled ->
'sup', unlabeled -> 'unsup_teacher' + 'unsup_student'), ``--labeled`` labeled + the rest unlabeled
images per batch, collated with mmengine's ``pseudo_collate``. Every model gets a deep copy of the same
batch list.

Pseudo-label thresholds: from-scratch detectors score (almost) nothing above the paper's 0.9 / 0.5, so
the unsupervised RoI and jitter paths would do no work and the timing would not be representative.
``--pseudo-thr`` (default 0.05) replaces pseudo_label_initial_score_thr, rpn_pseudo_thr and
cls_pseudo_thr in both models, so the teachers' detections (up to the test_cfg's 100 per image) become
pseudo-labels. ``--paper-thr`` uses the paper's values (0.5 initial, 0.9 RPN and classification) in
both, whatever the config says (the tree-crown demo config lowers them to 0.7).

What is measured
* time per iteration: ``model.train_step(batch, optim_wrapper)``, i.e. data preprocessing (normalise,
  pad, move to the device), teacher pseudo-labelling, forward + backward of the student and the SGD
  step; no EMA update, logging or data loading. Wall clock (``time.perf_counter``, with
  ``torch.cuda.synchronize`` on GPU). The two models alternate iteration by iteration (the order flips
  every iteration) on the same batches, so drifts of the machine's load hit both alike; ``--warmup``
  iterations per model are run first and not counted. The table gives median and mean.
* peak memory:
  - GPU: ``torch.cuda.max_memory_allocated`` over each model's own timed iterations (reset before
    each), i.e. the peak of tensors allocated by PyTorch, not counting the caching allocator's slack.
  - CPU: tensor allocations cannot be attributed with tracemalloc (PyTorch allocates outside Python's
    allocator), and the peak resident set size is a high-water mark of the whole process that never
    goes down (and freed heap pages are reused by the next model without showing), so each model runs
    ``--mem-iters`` iterations alone in a fresh spawned process (which builds the model and receives the
    batches before the measurement starts): reported is that process's peak resident set size (VmHWM
    of /proc/self/status, the same quantity as ``getrusage(RUSAGE_SELF).ru_maxrss`` but without the
    parent's size that Linux carries into ``ru_maxrss`` across fork + exec) minus its resident set size
    just before its first iteration, i.e. the extra memory the training iterations need (activations,
    gradients, optimizer state, allocator fragmentation), not the model's or the interpreter's
    baseline. These processes run with glibc's mmap threshold fixed at 64 KiB
    (``MALLOC_MMAP_THRESHOLD_``): blocks of that size and more are mapped on their own and returned
    when freed, so the peak follows the live memory instead of the allocator's history. It grows a
    little with --mem-iters (fragmentation); compare equal settings only.
* activations saved for backward: during each timed iteration, autograd's saved-tensor hooks record
  every tensor the forward keeps for the backward pass; reported is the size of their distinct
  storages (parameters excluded), the median over iterations. All of them are alive when the backward
  starts, so this is the activation part of the peak memory, and unlike the RSS it is exact and
  independent of the allocator and of other processes (same figure on CPU and GPU).
* RoI-head forward passes per iteration: forward hooks count calls of ``student.roi_head.bbox_head``
  (and, for information, ``teacher.roi_head.bbox_head``) during the timed iterations. ssod's second
  teacher pass is split into forwards of at most ``teacher_rois_per_pass`` (2048) RoIs, so with many
  pseudo boxes or RoIs its teacher count exceeds 2 while the work stays one pass.

If ssod's SoftTeacher cannot be imported yet (``ssod.models`` missing), only mmdet's is measured and the
table says why.

Usage: python benchmarks/bench_iteration.py [--iters 10] [--warmup 2] [--device cpu|cuda]
           [--image-size 256] [--batch 8] [--labeled 2] [--mem-iters 3] [--pseudo-thr 0.05 | --paper-thr]
           [--data synthetic|tree_crowns] [--detector r18_tiny|lite0] [--load-from CKPT]
A representative setting (a trained teacher, the paper's thresholds, real images): `make demo`, then
    python benchmarks/bench_iteration.py --data tree_crowns --detector lite0 \
        --load-from work_dirs/demo/seed0/burn_in/iter_240.pth --paper-thr
It also prints a Soft Teacher iteration's time over a supervised iteration of the same detector on as many
labeled images (ssod's model on all-labeled batches: the student's own loss only).
(``--load-from`` takes a plain detector checkpoint or a semi-supervised one, whose teacher is used.)
Default: about 1-2 minutes on 2 CPU cores. Prints a table, asserts nothing.
"""
import argparse
import copy
import multiprocessing as mp
import os
import os.path as osp
import resource
import statistics
import tempfile
import time

import torch
from mmengine.config import DictAction

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# --data: (semi data config, {--detector: SoftTeacher config}); the tree crowns must exist (make data /
# make demo). r18_tiny: the from-scratch narrow ResNet-18; lite0: the ImageNet EfficientNet-Lite0 detector.
DATA_SETS = dict(
    synthetic=(osp.join(REPO_ROOT, 'configs', '_base_', 'datasets', 'semi_synthetic.py'),
               dict(r18_tiny=osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                                      'soft_teacher_faster_rcnn_r18_tiny_synthetic.py'),
                    lite0=osp.join(REPO_ROOT, 'configs', 'accuracy', 'synthetic', 'soft_teacher.py'))),
    tree_crowns=(osp.join(REPO_ROOT, 'configs', '_base_', 'datasets', 'semi_tree_crowns.py'),
                 dict(r18_tiny=osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                                        'soft_teacher_faster_rcnn_r18_tiny_tree_crowns.py'),
                      lite0=osp.join(REPO_ROOT, 'configs', 'demo', 'soft_teacher_lite0_tree_crowns.py'))))
DETECTORS = ('r18_tiny', 'lite0')
THRESHOLD_KEYS = ('pseudo_label_initial_score_thr', 'rpn_pseudo_thr', 'cls_pseudo_thr')
PAPER_THRESHOLDS = dict(pseudo_label_initial_score_thr=0.5, rpn_pseudo_thr=0.9, cls_pseudo_thr=0.9)
IMPLEMENTATIONS = ('mmdet', 'ssod')
MALLOC_MMAP_THRESHOLD_KIB = 64  # glibc mmap threshold of the memory-phase processes (cpu_memory)
#: The R50 detector's proposal and RoI numbers (configs/_base_/models/faster_rcnn_r50_caffe_fpn.py)
#: where the tiny CPU detector uses fewer (500 training / 300 test proposals, 128 sampled RoIs per image).
PAPER_ROI_BUDGET = ('detector.train_cfg.rpn_proposal.nms_pre=2000',
                    'detector.train_cfg.rpn_proposal.max_per_img=1000',
                    'detector.train_cfg.rcnn.sampler.num=512',
                    'detector.test_cfg.rpn.max_per_img=1000')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--iters', type=int, default=10, help='timed iterations per model')
    parser.add_argument('--warmup', type=int, default=2, help='untimed iterations per model first')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--image-size', type=int, default=256, help='side of the synthetic images')
    parser.add_argument('--batch', type=int, default=8, help='images per iteration')
    parser.add_argument('--labeled', type=int, default=None,
                        help='labeled images per batch (default: batch // 4, at least 1)')
    parser.add_argument('--mem-iters', type=int, default=3,
                        help='iterations of the separate CPU memory phase per model (0: skip)')
    parser.add_argument('--pseudo-thr', type=float, default=0.05,
                        help='score threshold for pseudo-labels in both models (see the docstring)')
    parser.add_argument('--paper-thr', action='store_true',
                        help="the paper's thresholds (0.5 / 0.9 / 0.9) instead of --pseudo-thr")
    parser.add_argument('--detector', choices=DETECTORS, default='r18_tiny',
                        help='r18_tiny: narrow ResNet-18 from scratch; lite0: ImageNet EfficientNet-Lite0')
    parser.add_argument('--data', choices=sorted(DATA_SETS), default='synthetic',
                        help='synthetic shapes made on the fly, or the tree-crown tiles of data/tree_crowns')
    parser.add_argument('--load-from', metavar='CKPT',
                        help='a trained plain detector checkpoint (e.g. work_dirs/demo/iter_1000.pth of '
                        '`make demo`, with --data tree_crowns) loaded as teacher and student of both '
                        'models: a teacher with realistic scores, for use with --paper-thr')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        metavar='KEY=VALUE',
                        help='overrides of the SoftTeacher model config, applied to both models, e.g. '
                        "the paper's R-CNN budget: " + ' '.join(PAPER_ROI_BUDGET))
    args = parser.parse_args(argv)
    if args.labeled is None:
        args.labeled = max(1, args.batch // 4)
    if not 0 < args.labeled < args.batch:
        parser.error(f'--labeled must be in [1, batch - 1], got {args.labeled} for batch {args.batch}')
    if args.iters < 1 or args.warmup < 0 or args.mem_iters < 0:
        parser.error('--iters must be >= 1, --warmup and --mem-iters >= 0')
    return args


# -------------------------------------------------------------------------------------------------
# Models


def ssod_soft_teacher_available():
    """(True, '') if ``ssod.SoftTeacher`` can be built, else (False, why)."""
    import ssod  # noqa: F401
    try:
        import ssod.models  # noqa: F401
    except ImportError as error:
        return False, f'ssod.models cannot be imported ({error})'
    from ssod.registry import MODELS
    # Look in ssod's own registry: a lookup by name would fall through to mmdet's SoftTeacher.
    if 'SoftTeacher' not in MODELS.module_dict:
        return False, 'ssod.models registers no SoftTeacher'
    return True, ''


def model_config(implementation, args):
    from mmengine.config import Config
    config = Config.fromfile(DATA_SETS[args.data][1][args.detector])
    config.merge_from_dict({f'model.{key}': value for key, value in args.cfg_options.items()})
    cfg = copy.deepcopy(config.model)
    cfg['type'] = f'{implementation}.SoftTeacher'
    # the options MMDetection's SoftTeacher lacks are left at the paper's behaviour in ssod's too
    cfg['semi_train_cfg'].pop('ignore_score_thr', None)
    for key in THRESHOLD_KEYS:
        cfg['semi_train_cfg'][key] = PAPER_THRESHOLDS[key] if args.paper_thr else args.pseudo_thr
    return cfg


def build_model(implementation, args, state_dict=None):
    """The detector on ``args.device``, teacher = student, optionally loaded from ``state_dict``."""
    from mmengine.registry import init_default_scope
    from ssod.registry import MODELS
    init_default_scope('ssod')
    torch.manual_seed(args.seed)
    model = MODELS.build(model_config(implementation, args))
    built_by = type(model).__module__.split('.')[0]
    if built_by != implementation:  # the ssod registry falls through to mmdet's for unknown names
        raise RuntimeError(f'{implementation}.SoftTeacher built {type(model).__module__}.'
                           f'{type(model).__name__}')
    model.init_weights()
    if state_dict is None and args.load_from:
        from ssod.compat.checkpoint_safety import load_local_checkpoint
        detector_state = load_local_checkpoint(args.load_from, map_location='cpu')['state_dict']
        if any(key.startswith('teacher.') for key in detector_state):  # a semi checkpoint: its teacher
            detector_state = {key[len('teacher.'):]: value for key, value in detector_state.items()
                              if key.startswith('teacher.')}
        model.student.load_state_dict(detector_state)
        model.teacher.load_state_dict(detector_state)
        unmatched = ''
    elif state_dict is None:
        model.teacher.load_state_dict(model.student.state_dict())
        unmatched = ''
    else:
        result = model.load_state_dict(state_dict, strict=False)
        unmatched = (f'{len(result.missing_keys)} missing, {len(result.unexpected_keys)} unexpected keys'
                     if result.missing_keys or result.unexpected_keys else '')
    return model.to(args.device), unmatched


def build_optim_wrapper(model):
    from mmengine.optim import OptimWrapper
    return OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9,
                                        weight_decay=1e-4))


class RoIHeadCounter:
    """Counts forward calls of ``<branch>.roi_head.bbox_head`` for the student and the teacher."""

    def __init__(self, model):
        self.counts = {'student': 0, 'teacher': 0}
        self.handles = []
        for branch in self.counts:
            head = getattr(getattr(getattr(model, branch, None), 'roi_head', None), 'bbox_head', None)
            if head is not None:
                self.handles.append(head.register_forward_hook(self._hook(branch)))

    def _hook(self, branch):
        def hook(module, inputs, output):
            self.counts[branch] += 1
        return hook

    def reset(self):
        for branch in self.counts:
            self.counts[branch] = 0


# -------------------------------------------------------------------------------------------------
# Data


def build_batches(root, args, count, labeled=None):
    """``count`` collated batches of ``args.batch`` images: ``labeled`` (default ``args.labeled``)
    labeled + the rest unlabeled, from the semi data config's pipelines."""
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope
    from ssod.registry import DATASETS
    init_default_scope('ssod')
    cfg = Config.fromfile(DATA_SETS[args.data][0])
    n_labeled = args.labeled if labeled is None else labeled
    sources = []
    for dataset_cfg in (cfg.labeled_dataset, cfg.unlabeled_dataset):
        dataset_cfg = copy.deepcopy(dataset_cfg)
        if args.data == 'synthetic':
            dataset_cfg.data_root = root + '/'
        sources.append(DATASETS.build(dataset_cfg))
    labeled, unlabeled = sources
    n_unlabeled = args.batch - n_labeled
    batches = []
    for i in range(count):
        samples = [labeled[(i * n_labeled + k) % len(labeled)] for k in range(n_labeled)]
        samples += [unlabeled[(i * n_unlabeled + k) % len(unlabeled)] for k in range(n_unlabeled)]
        batches.append(pseudo_collate(samples))
    return batches


def make_data(root, args):
    if args.data != 'synthetic':
        return
    from ssod.data import synthetic
    synthetic.generate(root, num_images=32, image_size=args.image_size, num_classes=3,
                       labeled_percent=50, val_images=1, seed=args.seed, workers=1,
                       print_fn=lambda *_: None)


# -------------------------------------------------------------------------------------------------
# Measurement


def synchronize(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def train_iteration(model, optim_wrapper, batch, seed, saved_meter=None):
    torch.manual_seed(seed)
    model.train()
    batch = copy.deepcopy(batch)
    if saved_meter is None:
        return model.train_step(batch, optim_wrapper)
    with saved_meter:
        return model.train_step(batch, optim_wrapper)


class SavedActivationMeter:
    """Bytes of the distinct tensor storages that autograd saves for backward inside ``with``.

    The model's parameters (saved by every conv/linear) are not counted. A saved storage stays alive
    until the backward pass frees the graph, so its address cannot be reused by another saved
    storage within one forward: keying by address counts each storage once.
    """

    def __init__(self, model):
        self.parameter_storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
        self.storages = {}
        self._hooks = None

    def _pack(self, tensor):
        storage = tensor.untyped_storage()
        address = storage.data_ptr()
        if address not in self.parameter_storages:
            self.storages[address] = max(self.storages.get(address, 0), storage.nbytes())
        return tensor

    def __enter__(self):
        self.storages = {}
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda tensor: tensor)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)
        return False

    @property
    def total_bytes(self):
        return sum(self.storages.values())


def current_rss_kib():
    with open('/proc/self/statm') as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') // 1024


def peak_rss_kib():
    """Peak resident set size of this process's address space (VmHWM), in KiB.

    Not ``getrusage().ru_maxrss``: for a process started by fork + exec (multiprocessing's 'spawn')
    Linux carries the parent's RSS at the fork into the child's ``ru_maxrss``, which would then
    report the parent's size. VmHWM belongs to the address space made by exec.
    """
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux (see above)


def memory_phase(implementation, args, state_dict, batches, queue):
    """Child process: extra peak RSS (KiB) of ``len(batches)`` iterations of one model alone."""
    try:
        quiet()
        model, _ = build_model(implementation, args, state_dict)
        optim_wrapper = build_optim_wrapper(model)
        before = current_rss_kib()
        for i, batch in enumerate(batches):
            train_iteration(model, optim_wrapper, batch, args.seed + i)
        queue.put((implementation, peak_rss_kib() - before, None))
    except Exception as error:  # report, do not hang the parent
        queue.put((implementation, None, f'{type(error).__name__}: {error}'))


def cpu_memory(implementations, args, state_dict, batches):
    """Extra peak RSS of each implementation, each in its own spawned process (see the docstring).

    The children run with glibc's mmap threshold fixed at ``MALLOC_MMAP_THRESHOLD_KIB``: every
    allocation at least that large gets its own mapping, returned to the system when freed. By default
    glibc raises the threshold as large blocks are freed, after which big tensors come from the heap
    and freed heap memory stays resident, so the peak RSS depended on the allocation history (the same
    setting measured 0.96x to 1.11x between runs).
    """
    context = mp.get_context('spawn')
    results = {}
    for implementation in implementations:
        queue = context.Queue()
        process = context.Process(target=memory_phase,
                                  args=(implementation, args, state_dict, batches, queue))
        previous = os.environ.get('MALLOC_MMAP_THRESHOLD_')
        os.environ['MALLOC_MMAP_THRESHOLD_'] = str(MALLOC_MMAP_THRESHOLD_KIB * 1024)
        try:
            process.start()  # the child reads the variable when it starts
        finally:
            if previous is None:
                del os.environ['MALLOC_MMAP_THRESHOLD_']
            else:
                os.environ['MALLOC_MMAP_THRESHOLD_'] = previous
        name, kib, error = queue.get()
        process.join()
        results[name] = (kib, error)
    return results


def fmt_mib(kib_or_bytes, unit):
    if kib_or_bytes is None:
        return 'n/a'
    mib = kib_or_bytes / 1024 if unit == 'KiB' else kib_or_bytes / 2**20
    return f'{mib:.0f} MiB'


def quiet():
    """No per-parameter init messages and no deprecation chatter in the table's output."""
    import logging
    import warnings
    from mmengine.logging import MMLogger
    warnings.filterwarnings('ignore')
    MMLogger.get_instance('bench_iteration', log_level='WARNING')
    logging.getLogger('mmengine').setLevel(logging.WARNING)


def main(argv=None):
    args = parse_args(argv)
    quiet()
    import ssod  # noqa: F401
    available, why = ssod_soft_teacher_available()
    implementations = IMPLEMENTATIONS if available else ('mmdet', )
    on_gpu = str(args.device).startswith('cuda')
    print(f'device {args.device}, {torch.get_num_threads()} threads, images {args.image_size} px, '
          f'batch {args.batch} ({args.labeled} labeled + {args.batch - args.labeled} unlabeled), '
          f'{args.warmup} warm-up + {args.iters} timed iterations per model, pseudo-label threshold '
          f'{"paper (0.5 / 0.9 / 0.9)" if args.paper_thr else args.pseudo_thr}, data {args.data}, weights '
          f'{args.load_from or "random (from scratch)"}')
    if args.cfg_options:
        print('model overrides: ' + ' '.join(f'{k}={v}' for k, v in args.cfg_options.items()))
    if not available:
        print(f'NOTE: ssod.SoftTeacher is not available: {why}. Measuring mmdet.SoftTeacher only.')

    with tempfile.TemporaryDirectory() as root:
        make_data(root, args)
        batches = build_batches(root, args, args.warmup + args.iters)
        # the same detector's supervised iteration: a batch of as many images, all labeled
        supervised_batches = build_batches(root, args, args.warmup + args.iters, labeled=args.batch)

    models, optims, counters, meters, notes = {}, {}, {}, {}, {}
    reference_state = None
    for implementation in implementations:
        models[implementation], unmatched = build_model(implementation, args, reference_state)
        if reference_state is None:
            reference_state = copy.deepcopy(models[implementation].state_dict())
        if unmatched:
            notes[implementation] = f'weights not shared with mmdet: {unmatched}'
        optims[implementation] = build_optim_wrapper(models[implementation])
        counters[implementation] = RoIHeadCounter(models[implementation])
        meters[implementation] = SavedActivationMeter(models[implementation])

    # The supervised reference: ssod's model on all-labeled batches runs only the student's own loss
    # (the empty unlabeled branch costs nothing), i.e. a supervised iteration of the same detector.
    supervised, _ = build_model(implementations[-1], args, reference_state)
    supervised_optim = build_optim_wrapper(supervised)
    supervised_times = []
    times = {name: [] for name in implementations}
    student_calls = {name: [] for name in implementations}
    teacher_calls = {name: [] for name in implementations}
    saved_bytes = {name: [] for name in implementations}
    gpu_peak = {name: 0 for name in implementations}
    for i, batch in enumerate(batches):
        order = implementations if i % 2 == 0 else tuple(reversed(implementations))
        for name in order:
            counters[name].reset()
            if on_gpu:
                torch.cuda.reset_peak_memory_stats()
            synchronize(args.device)
            start = time.perf_counter()
            train_iteration(models[name], optims[name], batch, args.seed + i, meters[name])
            synchronize(args.device)
            elapsed = time.perf_counter() - start
            if i >= args.warmup:
                times[name].append(elapsed)
                student_calls[name].append(counters[name].counts['student'])
                teacher_calls[name].append(counters[name].counts['teacher'])
                saved_bytes[name].append(meters[name].total_bytes)
                if on_gpu:
                    gpu_peak[name] = max(gpu_peak[name], torch.cuda.max_memory_allocated())
        synchronize(args.device)
        start = time.perf_counter()
        train_iteration(supervised, supervised_optim, supervised_batches[i], args.seed + i)
        synchronize(args.device)
        if i >= args.warmup:
            supervised_times.append(time.perf_counter() - start)
    del supervised

    if on_gpu:
        memory = {name: (gpu_peak[name], None) for name in implementations}
        memory_label, unit = 'peak GPU alloc', 'B'
    elif args.mem_iters:
        mem_batches = batches[:args.mem_iters]
        memory = cpu_memory(implementations, args, reference_state, mem_batches)
        memory_label, unit = 'extra peak RSS', 'KiB'
    else:
        memory = {name: (None, 'skipped (--mem-iters 0)') for name in implementations}
        memory_label, unit = 'extra peak RSS', 'KiB'
    del models

    rows = [('', *[f'{name}.SoftTeacher' for name in implementations])]
    rows.append(('s / iteration (median)', *[f'{statistics.median(times[n]):.3f}' for n in implementations]))
    rows.append(('s / iteration (mean)', *[f'{statistics.mean(times[n]):.3f}' for n in implementations]))
    rows.append((memory_label, *[fmt_mib(memory[n][0], unit) for n in implementations]))
    rows.append(('saved for backward (median)',
                 *[fmt_mib(statistics.median(saved_bytes[n]), 'B') for n in implementations]))
    rows.append(('student bbox_head calls / it',
                 *[f'{statistics.mean(student_calls[n]):.1f}' for n in implementations]))
    rows.append(('teacher bbox_head calls / it',
                 *[f'{statistics.mean(teacher_calls[n]):.1f}' for n in implementations]))
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    print()
    for row in rows:
        print('  '.join(cell.ljust(widths[c]) if c == 0 else cell.rjust(widths[c])
                        for c, cell in enumerate(row)))
    if len(implementations) == 2:
        ratio_t = statistics.median(times['ssod']) / statistics.median(times['mmdet'])
        print(f'\nratio ssod / mmdet: time {ratio_t:.2f}x', end='')
        saved_ratio = statistics.median(saved_bytes['ssod']) / max(
            statistics.median(saved_bytes['mmdet']), 1)
        print(f', saved for backward {saved_ratio:.2f}x', end='')
        m_ssod, m_mmdet = memory['ssod'][0], memory['mmdet'][0]
        if m_ssod is not None and m_mmdet:
            print(f', {memory_label} {m_ssod / m_mmdet:.2f}x')
        else:
            print()
    else:
        print(f'\nratio ssod / mmdet: n/a ({why})')
    supervised_median = statistics.median(supervised_times)
    print(f'Soft Teacher iteration / supervised iteration of the same detector ({args.batch} labeled '
          f'images, {supervised_median:.3f} s): ' + ', '.join(
              f'{name} {statistics.median(times[name]) / supervised_median:.2f}x' for name in implementations))
    for name in implementations:
        if memory[name][1]:
            print(f'{name}: memory phase: {memory[name][1]}')
        if name in notes:
            print(f'{name}: {notes[name]}')
    return dict(times=times, memory=memory, saved_bytes=saved_bytes, student_calls=student_calls,
                teacher_calls=teacher_calls, supervised_times=supervised_times)


if __name__ == '__main__':
    main()
