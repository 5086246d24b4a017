"""Bad unlabeled images (cut short, empty, text named .jpg, missing) are replaced, logged once with their
path, counted, and a resume from before them gives the same losses; bad labeled images stay fatal with
their path; tools/data/check_images.py lists them all."""
import os
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ssod.datasets import bad_image_skip
from ssod.datasets.image_check import BadImageError
from ssod.engine.hooks import skipped_images
from ssod.engine.hooks.skipped_images import SkippedImagesHook, TooManyBadImagesError
from ssod.registry import DATA_SAMPLERS, DATASETS

from tests.scripts import load_script
from .helpers import REPO_ROOT, data_options, read, scalar_records, train_argv, write_config

MAX_ITERS = 8
RESUME_FROM = 2


def damage(path, kind):
    """Make ``path`` a bad image of ``kind``; returns the reason the log must give."""
    if kind == 'truncated':
        with open(path, 'rb') as f:
            data = f.read()
        with open(path, 'wb') as f:
            f.write(data[:len(data) // 2])
        return f'is truncated ({len(data) // 2} bytes): a JPEG without its end-of-image marker'
    if kind == 'empty':
        open(path, 'wb').close()
        return 'is empty (0 bytes)'
    if kind == 'text':
        with open(path, 'w') as f:
            f.write('this is not an image\n')
        return "is not an image: it holds text (b'this is not an i'...)"
    os.remove(path)
    return 'does not exist'


def drawn_unlabeled(config, data_root):
    """(iteration, path) of the unlabeled images the sampler draws, in order (iterations from 0)."""
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(data_options(data_root))
    init_default_scope('ssod')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    sampler = DATA_SAMPLERS.build(dict(cfg.train_dataloader.sampler, dataset=dataset, seed=0))
    labeled = len(dataset.datasets[0])
    return [(t, dataset.get_data_info(i)['img_path']) for t in range(MAX_ITERS)
            for i in sampler.batch_indices(t) if i >= labeled]


def losses(work_dir):
    return {r['iter']: r['loss'] for r in scalar_records(work_dir) if 'loss' in r}


def test_bad_unlabeled_images_are_replaced_logged_counted_and_resume_exactly(fork_trainer, data_copy,
                                                                            tmp_path):
    config = write_config(tmp_path / 'bad.py', MAX_ITERS, checkpoint_interval=RESUME_FROM,
                          max_keep_ckpts=MAX_ITERS)
    draws = drawn_unlabeled(config, data_copy)
    early = {path for t, path in draws if t < RESUME_FROM}
    late = list(dict.fromkeys(path for t, path in draws if t >= RESUME_FROM and path not in early))
    kinds = ['truncated', 'empty', 'text', 'missing']
    assert len(late) >= len(kinds), 'the sampler draws too few different unlabeled images'
    reasons = {path: damage(path, kind) for path, kind in zip(late, kinds)}

    work = str(tmp_path / 'straight')
    result = fork_trainer.train(train_argv(config, work, data_copy), tmp_path / 'straight.log')
    log = read(tmp_path / 'straight.log')
    assert result['exit_code'] == 0, log[-3000:]
    for path, reason in reasons.items():
        lines = [line for line in log.splitlines() if f'skipped unlabeled image {path}: it ' in line]
        assert len(lines) == 1, (path, lines)
        assert f'skipped unlabeled image {path}: it {reason}; a replacement of the same aspect group ' \
               f'was loaded (iteration ' in lines[0]
    counts = [r['skipped_images'] for r in scalar_records(work) if 'skipped_images' in r]
    assert counts and counts[-1] >= len(kinds)
    straight = losses(work)
    assert sorted(straight) == list(range(1, MAX_ITERS + 1))

    resumed = str(tmp_path / 'resumed')
    result = fork_trainer.train(
        train_argv(config, resumed, data_copy, '--resume', osp.join(work, f'iter_{RESUME_FROM}.pth')),
        tmp_path / 'resumed.log')
    assert result['exit_code'] == 0, read(tmp_path / 'resumed.log')[-3000:]
    again = losses(resumed)
    assert sorted(again) == list(range(RESUME_FROM + 1, MAX_ITERS + 1))
    assert again == {i: straight[i] for i in again}


def labeled_dataset(data_root):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                                   'soft_teacher_faster_rcnn_r18_tiny_synthetic.py'))
    init_default_scope('ssod')
    labeled = cfg.train_dataloader.dataset.datasets[0]
    labeled.data_root = data_root.rstrip('/') + '/'
    return DATASETS.build(labeled)


@pytest.mark.parametrize('kind', ['truncated', 'empty', 'text', 'missing'])
def test_a_bad_labeled_image_is_fatal_and_named(data_copy, kind):
    dataset = labeled_dataset(data_copy)
    path = dataset.get_data_info(0)['img_path']
    reason = damage(path, kind)
    with pytest.raises(BadImageError) as info:
        dataset[0]
    assert str(info.value) == (
        f'image {path} {reason}; fix or remove it (python tools/data/check_images.py CONFIG lists every '
        f"bad image of a config's datasets)")


def test_replacement_is_deterministic_and_of_the_same_group(data_copy):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                                   'soft_teacher_faster_rcnn_r18_tiny_synthetic.py'))
    init_default_scope('ssod')
    unlabeled = cfg.train_dataloader.dataset.datasets[1]
    unlabeled.data_root = data_copy.rstrip('/') + '/'
    dataset = DATASETS.build(unlabeled)
    choices = [dataset.replacement_index(3, attempt) for attempt in range(4)]
    assert choices == [dataset.replacement_index(3, attempt) for attempt in range(4)]
    assert all(c != 3 and dataset.aspect_group(c) == dataset.aspect_group(3) for c in choices)
    path = dataset.get_data_info(3)['img_path']
    damage(path, 'empty')
    data = dataset[3]
    samples = [s for s in data['data_samples'].values() if s is not None]
    assert samples and all(s.metainfo['skipped_images'] == [(path, 'is empty (0 bytes)')]
                           for s in samples)


class _Hub:

    def __init__(self):
        self.info, self.scalars = {}, {}

    def get_info(self, key, default=None):
        return self.info.get(key, default)

    def update_info(self, key, value):
        self.info[key] = value

    def update_scalar(self, key, value):
        self.scalars[key] = value


class _Runner:

    def __init__(self):
        import logging
        self.message_hub, self.iter = _Hub(), 0
        self.logger = logging.getLogger('skipped-images-test')


class _Sample:

    def __init__(self, skipped=None):
        self.metainfo = {'skipped_images': skipped} if skipped else {}


def test_too_many_skipped_images_stop_with_a_summary():
    hook, runner = SkippedImagesHook(max_skipped_images=2), _Runner()
    for i, name in enumerate(['a.jpg', 'b.jpg']):
        batch = dict(data_samples=dict(sup=[_Sample(), None],
                                       unsup_teacher=[None, _Sample([(name, 'is empty (0 bytes)')])],
                                       unsup_student=[None, _Sample([(name, 'is empty (0 bytes)')])]))
        runner.iter = i
        hook.after_train_iter(runner, i, batch)
    assert runner.message_hub.scalars['train/skipped_images'] == 2  # once per image, not per view
    with pytest.raises(TooManyBadImagesError) as info:
        runner.iter = 2
        hook.after_train_iter(runner, 2, dict(data_samples=[_Sample([('c.jpg', 'does not exist')])]))
    assert str(info.value) == (
        '3 unlabeled images failed to load by iteration 3, more than max_skipped_images=2 '
        '(default_hooks.skipped_images). Files seen:\n  a.jpg: is empty (0 bytes)\n'
        '  b.jpg: is empty (0 bytes)\n  c.jpg: does not exist\nRepair or remove them (python '
        'tools/data/check_images.py CONFIG lists every bad image), then resume.')


def test_check_images_lists_every_bad_image(data_copy, capsys):
    tool = load_script('tools/data/check_images.py')
    config = osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                      'soft_teacher_faster_rcnn_r18_tiny_synthetic.py')
    root = data_copy.rstrip('/') + '/'
    images = sorted(os.listdir(osp.join(data_copy, 'images')))
    bad = {}
    for name, kind in zip(images, ['truncated', 'empty', 'text', 'missing']):
        path = osp.join(root, 'images', name)
        bad[path] = damage(path, kind)
    code = tool.main([config, '--workers', '2', '--cfg-options',
                      f'train_dataloader.dataset.datasets.0.data_root={root}',
                      f'train_dataloader.dataset.datasets.1.data_root={root}',
                      f'val_dataloader.dataset.data_root={root}',
                      f'test_dataloader.dataset.data_root={root}',
                      f'val_evaluator.ann_file={root}annotations/val.json',
                      f'test_evaluator.ann_file={root}annotations/val.json'])
    out, err = capsys.readouterr()
    assert code == 1, err
    listed = {line.split(': ', 1)[0]: line.split(': ', 1)[1].rsplit(' (', 1)[0]
              for line in out.splitlines() if line.startswith(root)}  # (pycocotools prints too)
    assert listed == bad
    assert f'images checked, {len(bad)} bad' in err


def test_dataset_and_hook_agree_on_the_metainfo_key():
    # engine does not import datasets: the key is written down twice
    assert skipped_images.SKIPPED_META_KEY == bad_image_skip.SKIPPED_META_KEY
