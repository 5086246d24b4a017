"""Tests of ssod/apis/export.py through tools/export_model.py: a SoftTeacher checkpoint from 2 training
iterations of the synthetic config is exported (teacher and student), then loaded by mmdet's own
``init_detector`` / ``inference_detector`` / ``DetInferencer`` in a fresh Python process that never
imports ssod. The exported weights must equal the checkpoint's ``teacher.*`` (``student.*``) tensors exactly, and the
detections must equal those of the semi-supervised detector predicting with that model."""
import os
import os.path as osp
import subprocess
import sys
import textwrap
import uuid

import cv2
import numpy as np
import pytest
import torch
from mmdet.apis import inference_detector
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope, init_default_scope
from mmengine.runner import Runner, load_checkpoint

import ssod  # noqa: F401
from ssod.registry import MODELS
from tests.scripts import load_script

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC_CONFIG = osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                            'soft_teacher_faster_rcnn_r18_tiny_synthetic.py')
SUPERVISED_CONFIG = osp.join(REPO_ROOT, 'configs', 'demo',
                             'faster_rcnn_r18_tiny_tree_crowns_supervised.py')
CLASSES = ('ellipse', 'rectangle', 'triangle')
SOURCE_ITER = 7  # the iteration the hand-made checkpoint claims


em = load_script('tools/export_model.py')


def shapes_image():
    """A 96 x 72 BGR picture of a few filled shapes (not square, so the pipeline rescales boxes)."""
    image = np.full((72, 96, 3), 40, dtype=np.uint8)
    cv2.rectangle(image, (8, 10), (40, 50), (30, 200, 90), -1)
    cv2.ellipse(image, (66, 30), (18, 12), 20, 0, 360, (220, 60, 60), -1)
    cv2.fillPoly(image, [np.array([[50, 68], [90, 68], [70, 44]], dtype=np.int32)], (60, 60, 230))
    return image


@pytest.fixture(scope='module')
def semi_checkpoint(tmp_path_factory):
    """(path, state dict) of a SoftTeacher checkpoint laid out as the Runner saves one.

    The model is the synthetic config's, randomly initialised (seeded); teacher and student are built
    separately, so every weight tensor differs between them (BN statistics are equal at 0 / 1). The
    message hub holds ``HistoryBuffer`` objects like a training checkpoint, so loading it goes through
    ssod's ``weights_only`` allow-list."""
    init_default_scope('ssod')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(SYNTHETIC_CONFIG).model)
    hub = MessageHub.get_instance(f'export_test_{uuid.uuid4().hex}')
    hub.update_scalar('train/loss', 1.25)
    hub.update_info('iter', SOURCE_ITER)
    state = model.state_dict()
    dataset_meta = dict(classes=CLASSES, palette=[(220, 20, 60), (0, 128, 255), (255, 170, 0)])
    checkpoint = dict(meta=dict(iter=SOURCE_ITER, epoch=0, seed=0, dataset_meta=dataset_meta),
                      state_dict=state, message_hub=hub.state_dict())
    path = str(tmp_path_factory.mktemp('semi') / f'iter_{SOURCE_ITER}.pth')
    torch.save(checkpoint, path)
    return path, state


def semi_predictions(checkpoint, image, predict_on):
    """Detections of the SoftTeacher of ``checkpoint`` (built from the synthetic config, ssod scope)."""
    init_default_scope('ssod')
    cfg = Config.fromfile(SYNTHETIC_CONFIG)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    model.cfg = cfg
    model.semi_test_cfg.predict_on = predict_on
    model.eval()
    return inference_detector(model, image).pred_instances


PLAIN_MMDET_SCRIPT = textwrap.dedent('''
    """Load exported models with mmdet alone (no ssod) and save their detections and weights checks."""
    import sys

    import cv2
    import torch
    from mmdet.apis import DetInferencer, inference_detector, init_detector

    out, image_path = sys.argv[1], sys.argv[2]
    image = cv2.imread(image_path)
    results = {}
    for name in ('teacher', 'student'):
        config, weights = sys.argv[3:5] if name == 'teacher' else sys.argv[5:7]
        model = init_detector(config, weights, device='cpu')
        saved = torch.load(weights, map_location='cpu')['state_dict']  # torch's default loader
        own = model.state_dict()
        results[name + '_weights_equal'] = (sorted(own) == sorted(saved) and
                                            all(torch.equal(own[k], saved[k]) for k in own))
        results[name + '_classes'] = tuple(model.dataset_meta['classes'])
        det = inference_detector(model, image).pred_instances
        results[name] = dict(bboxes=det.bboxes, scores=det.scores, labels=det.labels)
    inferencer = DetInferencer(model=sys.argv[3], weights=sys.argv[4], device='cpu', show_progress=False)
    det = inferencer(image, return_datasamples=True)['predictions'][0].pred_instances
    results['inferencer'] = dict(bboxes=det.bboxes, scores=det.scores, labels=det.labels)
    results['ssod_imported'] = any(m == 'ssod' or m.startswith('ssod.') for m in sys.modules)
    torch.save(results, out)
''')


def assert_same_detections(ours, theirs):
    assert len(ours.bboxes) > 0
    assert torch.equal(ours.bboxes, theirs['bboxes'])
    assert torch.equal(ours.scores, theirs['scores'])
    assert torch.equal(ours.labels, theirs['labels'])


def test_exported_teacher_and_student_run_in_plain_mmdet(semi_checkpoint, tmp_path, capsys):
    checkpoint, state = semi_checkpoint
    image = shapes_image()
    out_dir = tmp_path / 'export'
    for model in ('teacher', 'student'):
        assert em.main([SYNTHETIC_CONFIG, checkpoint, '--model', model, '--out-dir', str(out_dir)]) == 0
    assert f'wrote the student of {checkpoint}' in capsys.readouterr().out
    paths = {model: tuple(str(out_dir / f'iter_{SOURCE_ITER}_{model}{ext}') for ext in ('.py', '.pth'))
             for model in ('teacher', 'student')}

    # Weights: exactly the checkpoint's teacher.* / student.* tensors without the prefix; they differ.
    exported = {}
    for model, (_, weights) in paths.items():
        saved = torch.load(weights, map_location='cpu', weights_only=True)
        prefix = f'{model}.'
        expected = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        assert list(saved['state_dict']) == list(expected)
        assert all(torch.equal(saved['state_dict'][k], v) for k, v in expected.items())
        assert saved['meta']['dataset_meta']['classes'] == CLASSES
        assert saved['meta']['exported_from'] == dict(checkpoint=checkpoint, model=model,
                                                      config=SYNTHETIC_CONFIG, iter=SOURCE_ITER)
        assert set(saved) == {'meta', 'state_dict'}
        exported[model] = saved['state_dict']
    assert len(exported['teacher']) == len(exported['student']) > 100
    assert any(not torch.equal(exported['teacher'][k], exported['student'][k])
               for k in exported['teacher'])

    # Config: a plain mmdet config of the inner Faster R-CNN.
    cfg = Config.fromfile(paths['teacher'][0])
    assert cfg.default_scope == 'mmdet' and 'custom_imports' not in cfg
    assert cfg.model.type == 'FasterRCNN' and cfg.model.data_preprocessor.type == 'DetDataPreprocessor'
    assert cfg.model.roi_head.bbox_head.num_classes == 3
    assert cfg.test_pipeline == cfg.test_dataloader.dataset.pipeline
    assert cfg.test_dataloader.dataset.metainfo.classes == CLASSES

    # mmdet alone (fresh process, ssod never imported) loads both and runs them.
    image_path = str(tmp_path / 'image.png')
    cv2.imwrite(image_path, image)
    script = tmp_path / 'plain_mmdet.py'
    script.write_text(PLAIN_MMDET_SCRIPT)
    results_path = str(tmp_path / 'results.pt')
    env = dict(os.environ, PYTHONPATH='')
    run = subprocess.run([sys.executable, str(script), results_path, image_path, *paths['teacher'],
                          *paths['student']], cwd=str(tmp_path), env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    plain = torch.load(results_path, weights_only=False)
    assert plain['ssod_imported'] is False
    assert plain['teacher_weights_equal'] and plain['student_weights_equal']
    assert plain['teacher_classes'] == CLASSES and plain['student_classes'] == CLASSES

    # Same detections as the semi-supervised detector predicting with the same model.
    teacher = semi_predictions(checkpoint, image, 'teacher')
    student = semi_predictions(checkpoint, image, 'student')
    assert_same_detections(teacher, plain['teacher'])
    assert_same_detections(teacher, plain['inferencer'])
    assert_same_detections(student, plain['student'])
    assert not torch.equal(plain['teacher']['scores'], plain['student']['scores'])


def test_cfg_options_reach_the_exported_config_and_name(semi_checkpoint, tmp_path):
    checkpoint, _ = semi_checkpoint
    paths = em.export(SYNTHETIC_CONFIG, checkpoint, 'student', str(tmp_path), 'tiny',
                      {'model.detector.test_cfg.rcnn.max_per_img': 7})
    assert paths == dict(checkpoint=str(tmp_path / 'tiny.pth'), config=str(tmp_path / 'tiny.py'))
    assert Config.fromfile(paths['config']).model.test_cfg.rcnn.max_per_img == 7


def test_exported_config_evaluates_with_the_runner_in_mmdet_scope(semi_checkpoint, synthetic_data,
                                                                   tmp_path):
    """What mmdet's tools/test.py does with the exported pair: Runner.from_cfg(cfg).test()."""
    checkpoint, _ = semi_checkpoint
    root = synthetic_data.rstrip('/') + '/'
    paths = em.export(SYNTHETIC_CONFIG, checkpoint, 'teacher', str(tmp_path), 'teacher', {
        'test_dataloader.dataset.data_root': root,
        'test_evaluator.ann_file': root + 'annotations/val.json'})
    cfg = Config.fromfile(paths['config'])
    cfg.work_dir = str(tmp_path / 'test_run')
    cfg.load_from = paths['checkpoint']
    cfg.experiment_name = f'export_test_{uuid.uuid4().hex}'
    previous_scope = DefaultScope.get_current_instance()
    try:
        runner = Runner.from_cfg(cfg)
        metrics = runner.test()
        assert type(runner.model).__module__.startswith('mmdet.models')
        assert type(runner.model).__name__ == 'FasterRCNN'
        exported = torch.load(paths['checkpoint'], weights_only=True)['state_dict']
        loaded = runner.model.state_dict()
        assert sorted(loaded) == sorted(exported)
        assert all(torch.equal(loaded[key], exported[key]) for key in exported)
    finally:  # the Runner made 'mmdet' the current scope; later tests expect the previous one
        if previous_scope is not None:
            DefaultScope.get_instance(f'restore_{uuid.uuid4().hex}',
                                      scope_name=previous_scope.scope_name)
    assert 0.0 <= metrics['coco/bbox_mAP'] <= 1.0
    assert set(metrics) >= {'coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75'}


# ------------------------------------------------------------------------------------------ bad input

@pytest.fixture(scope='module')
def semi_state(semi_checkpoint):
    return semi_checkpoint[1]


def error_of(capsys, argv):
    assert em.main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ')
    return err


def test_checkpoint_without_teacher_or_student_weights(semi_state, tmp_path, capsys):
    plain = {k[len('teacher.'):]: v for k, v in semi_state.items() if k.startswith('teacher.')}
    path = tmp_path / 'plain.pth'
    torch.save(dict(state_dict=plain, meta={}), path)
    err = error_of(capsys, [SYNTHETIC_CONFIG, path])
    assert f"checkpoint {path} has no 'teacher.*' weights" in err
    assert "its keys start with ['backbone', 'neck', 'roi_head', 'rpn_head']" in err
    teacher_only = {k: v for k, v in semi_state.items() if k.startswith('teacher.')}
    torch.save(dict(state_dict=teacher_only), path)
    err = error_of(capsys, [SYNTHETIC_CONFIG, path, '--model', 'student'])
    assert "has no 'student.*' weights" in err


def test_bare_and_ddp_state_dicts_are_accepted(semi_state, tmp_path):
    path = tmp_path / 'bare.pth'
    torch.save({f'module.{k}': v for k, v in semi_state.items()}, path)
    paths = em.export(SYNTHETIC_CONFIG, str(path), 'teacher', str(tmp_path / 'out'),
                      cfg_options=None)
    saved = torch.load(paths['checkpoint'], weights_only=True)
    # No meta in the source: the classes come from the config's test dataset.
    assert saved['meta']['dataset_meta']['classes'] == CLASSES
    assert 'iter' not in saved['meta']['exported_from']
    assert torch.equal(saved['state_dict']['roi_head.bbox_head.fc_cls.weight'],
                       semi_state['teacher.roi_head.bbox_head.fc_cls.weight'])


def test_missing_files(semi_state, tmp_path, capsys):
    path = tmp_path / 'ok.pth'
    torch.save(dict(state_dict=semi_state), path)
    assert f'config {tmp_path}/nope.py does not exist' in error_of(capsys, [tmp_path / 'nope.py', path])
    assert f'checkpoint {tmp_path}/nope.pth does not exist' in error_of(
        capsys, [SYNTHETIC_CONFIG, tmp_path / 'nope.pth'])


def test_unreadable_and_unsafe_checkpoints(semi_state, tmp_path, capsys):
    corrupt = tmp_path / 'corrupt.pth'
    corrupt.write_bytes(b'not a checkpoint at all')
    assert f'cannot read checkpoint {corrupt}' in error_of(capsys, [SYNTHETIC_CONFIG, corrupt])
    unsafe = tmp_path / 'unsafe.pth'
    torch.save(dict(state_dict=semi_state, meta=dict(hook=os.getcwd)), unsafe)
    err = error_of(capsys, [SYNTHETIC_CONFIG, unsafe])
    assert f'refused to load checkpoint {unsafe} as unsafe' in err and 'may be malicious' in err
    assert 'sanitize_checkpoint.py' not in err  # os.getcwd is no part of an mmengine checkpoint
    not_a_dict = tmp_path / 'list.pth'
    torch.save([1, 2], not_a_dict)
    assert 'holds a list' in error_of(capsys, [SYNTHETIC_CONFIG, not_a_dict])


def test_weights_that_do_not_fit_the_config(semi_state, tmp_path, capsys):
    path = tmp_path / 'partial.pth'
    partial = {k: v for k, v in semi_state.items() if 'rpn_head' not in k}
    torch.save(dict(state_dict=partial), path)
    err = error_of(capsys, [SYNTHETIC_CONFIG, path])
    assert 'the checkpoint weights do not fit the detector' in err and "missing ['rpn_head." in err
    torch.save(dict(state_dict=semi_state), path)
    err = error_of(capsys, [SYNTHETIC_CONFIG, path, '--cfg-options',
                            'model.detector.roi_head.bbox_head.num_classes=5'])
    assert 'the checkpoint weights do not fit the detector' in err and 'size mismatch' in err


def test_classes_that_disagree_with_the_detector(semi_state, tmp_path, capsys):
    path = tmp_path / 'ok.pth'
    torch.save(dict(state_dict=semi_state, meta=dict(dataset_meta=dict(classes=('a', 'b')))), path)
    err = error_of(capsys, [SYNTHETIC_CONFIG, path])
    assert "2 classes ('a', 'b') but the detector" in err and 'num_classes=3' in err


def test_config_that_is_not_semi_supervised_or_needs_ssod(semi_state, tmp_path, capsys):
    path = tmp_path / 'ok.pth'
    torch.save(dict(state_dict=semi_state), path)
    err = error_of(capsys, [SUPERVISED_CONFIG, path])
    assert "'model' has no 'detector' entry" in err
    # A test dataset type that only ssod registers cannot go into a plain mmdet config.
    err = error_of(capsys, [SYNTHETIC_CONFIG, path, '--cfg-options',
                            'test_dataloader.dataset.type=CocoWithHiddenGT'])
    assert 'components that mmdet does not provide' in err
    assert 'test_dataloader.dataset: CocoWithHiddenGT' in err
