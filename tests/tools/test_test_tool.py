"""tools/test.py on a SoftTeacher checkpoint of the synthetic config (teacher and student differ):
teacher / student / both, --out pickles, --show-dir pictures, and its errors.
"""
import glob
import importlib.util
import os.path as osp
import pickle
import uuid

import mmcv
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import ssod  # noqa: F401
from ssod.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC_CONFIG = osp.join(REPO_ROOT, 'configs', 'soft_teacher',
                            'soft_teacher_faster_rcnn_r18_tiny_synthetic.py')
PLAIN_CONFIG = osp.join(REPO_ROOT, 'configs', 'demo', 'faster_rcnn_r18_tiny_tree_crowns_supervised.py')
VAL_IMAGES = 8  # tests/conftest.py synthetic_data


def load_tool():
    spec = importlib.util.spec_from_file_location('ssod_tools_test',
                                                  osp.join(REPO_ROOT, 'tools', 'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


test_tool = load_tool()


def data_options(root):
    root = root.rstrip('/') + '/'
    # Every detection is kept (score_thr 0): after 4 iterations the student may score no box above
    # 0.05, and CocoMetric reports no keys at all for a model without detections.
    return [f'test_dataloader.dataset.data_root={root}',
            f'test_evaluator.ann_file={root}annotations/val.json',
            'model.detector.test_cfg.rcnn.score_thr=0.0']


@pytest.fixture(autouse=True, scope='module')
def unformatted_config_dumps():
    """Skip yapf when mmengine prints / dumps the config (5 times per Runner).

    Formatting the synthetic config with yapf took 97 of 121 s of one tools/test.py run on a busy
    2-core machine (cProfile); the dumped text stays valid Python, only its layout differs.
    """
    import mmengine.config.config as mmengine_config
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mmengine_config, 'FormatCode', lambda text, **kwargs: (text, False))
        yield


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A checkpoint of the synthetic config's SoftTeacher whose student differs from its teacher.

    Written by hand instead of by a training run (which costs about a minute on a busy 2-core machine):
    the model of the config, initialised as for training, the student's weights then perturbed, saved
    as mmengine saves weights (``state_dict`` + ``meta``).
    """
    init_default_scope('ssod')
    torch.manual_seed(0)
    cfg = Config.fromfile(SYNTHETIC_CONFIG)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.teacher.load_state_dict(model.student.state_dict())
    with torch.no_grad():
        for param in model.student.parameters():
            param.add_(0.05 * torch.randn_like(param))
    path = str(tmp_path_factory.mktemp('checkpoint') / 'iter_4.pth')
    torch.save(dict(meta=dict(iter=4), state_dict=model.state_dict()), path)
    return path


def run_tool(checkpoint_path, root, work_dir, *extra):
    argv = [SYNTHETIC_CONFIG, checkpoint_path, '--work-dir', str(work_dir), *extra,
            '--cfg-options', *data_options(root), f'experiment_name=test_tool_{uuid.uuid4().hex}',
            # A visualizer of its own: mmengine hands a Runner the existing instance of the same name,
            # which an earlier test of this process may have created as a plain mmengine Visualizer.
            f'visualizer.name=test_tool_{uuid.uuid4().hex}']
    return test_tool.main(argv)


def check_metrics(metrics, models):
    for name in models:
        for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75'):
            assert 0.0 <= metrics[f'{name}/{key}'] <= 1.0
    assert {key.split('/')[0] for key in metrics} == set(models)


def check_results(path):
    with open(path, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == VAL_IMAGES
    assert len({r['img_id'] for r in results}) == VAL_IMAGES
    for r in results:
        instances = r['pred_instances']
        assert instances['bboxes'].shape[1:] == (4, )
        assert len(instances['scores']) == len(instances['labels']) == len(instances['bboxes'])
    return results


def check_pictures(folder, synthetic_data):
    pictures = sorted(glob.glob(osp.join(folder, '*')))
    images = sorted(glob.glob(osp.join(synthetic_data, 'images', '*')))
    val_names = {osp.basename(p['file_name']) for p in mmcv_load_val(synthetic_data)}
    assert len(pictures) == VAL_IMAGES
    assert {osp.basename(p) for p in pictures} == val_names
    by_name = {osp.basename(p): p for p in images}
    for picture in pictures:
        drawn = mmcv.imread(picture)
        original = mmcv.imread(by_name[osp.basename(picture)])
        height, width = original.shape[:2]
        # mmdet draws the ground truth and the detections side by side, each at the image's size.
        assert drawn.shape == (height, 2 * width, 3)


def mmcv_load_val(root):
    import json
    with open(osp.join(root, 'annotations', 'val.json')) as f:
        return json.load(f)['images']


def test_default_teacher_with_out_and_show_dir(checkpoint, synthetic_data, tmp_path):
    """Without --model: the config's predict_on (teacher)."""
    out = str(tmp_path / 'results.pkl')
    show_dir = str(tmp_path / 'pictures')
    metrics = run_tool(checkpoint, synthetic_data, tmp_path / 'work', '--out', out,
                       '--show-dir', show_dir)
    check_metrics(metrics, ['teacher'])
    check_results(out)
    check_pictures(show_dir, synthetic_data)


def test_both_models_then_student_alone(checkpoint, synthetic_data, tmp_path):
    """--model both: prefixed metrics, one result file and one picture folder per model; the student
    pass of 'both' gives the same numbers as --model student."""
    out = str(tmp_path / 'results.pkl')
    show_dir = str(tmp_path / 'pictures')
    both = run_tool(checkpoint, synthetic_data, tmp_path / 'work', '--model', 'both',
                    '--out', out, '--show-dir', show_dir)
    check_metrics(both, ['teacher', 'student'])
    teacher = check_results(str(tmp_path / 'results.teacher.pkl'))
    student = check_results(str(tmp_path / 'results.student.pkl'))
    assert not osp.exists(out)
    # The student's weights differ from the teacher's, so do their detections.
    assert any(t['pred_instances']['scores'].shape != s['pred_instances']['scores'].shape
               or (t['pred_instances']['scores'] != s['pred_instances']['scores']).any()
               for t, s in zip(teacher, student))
    check_pictures(osp.join(show_dir, 'teacher'), synthetic_data)
    check_pictures(osp.join(show_dir, 'student'), synthetic_data)

    alone = run_tool(checkpoint, synthetic_data, tmp_path / 'work2', '--model', 'student')
    check_metrics(alone, ['student'])
    for key in ('coco/bbox_mAP', 'coco/bbox_mAP_50'):
        assert alone[f'student/{key}'] == pytest.approx(both[f'student/{key}'])


@pytest.mark.parametrize('extra, message', [
    (['--out', 'results.json'], 'must end in .pkl'),
])
def test_bad_options_are_clear_errors(checkpoint, synthetic_data, tmp_path, extra, message):
    with pytest.raises(SystemExit, match=message):
        run_tool(checkpoint, synthetic_data, tmp_path / 'work', *extra)


def test_missing_checkpoint_and_missing_val_data(synthetic_data, checkpoint, tmp_path):
    with pytest.raises(SystemExit, match='checkpoint .*nope.pth does not exist'):
        run_tool(str(tmp_path / 'nope.pth'), synthetic_data, tmp_path / 'work')
    empty = str(tmp_path / 'empty')
    with pytest.raises(SystemExit, match=r'test_dataloader.dataset.ann_file: .*empty/annotations/val.json '
                                         r'does not exist'):
        run_tool(checkpoint, empty, tmp_path / 'work')


def test_model_option_needs_a_teacher_student_config(checkpoint, tmp_path):
    with pytest.raises(SystemExit, match='--model student needs a teacher-student config'):
        test_tool.main([PLAIN_CONFIG, checkpoint, '--model', 'student', '--work-dir', str(tmp_path)])
