"""ssod.apis.pseudo_label: the file holds the detector's own predictions (mmdet's inference_detector on
the same checkpoint is the reference), teacher / student, flip, folder input, resume from parts,
categories, and the error messages. Tiny random-init models (tests/apis/pseudo_label_checkpoints.py) on
the 64 px synthetic images; about 1 s per run."""
import json
import os
import os.path as osp
import shutil

import mmcv
import numpy as np
import pytest
import torch
from mmdet.apis import inference_detector, init_detector

from ssod.apis import pseudo_label_store as store
from ssod.apis.pseudo_label import write_pseudo_labels
from ssod.apis.pseudo_label_images import PseudoLabelError, output_categories
from ssod.models.flip_merge import merge_flip_detections
from tests.apis.pseudo_label_checkpoints import CLASSES, plain_checkpoint, semi_checkpoint

pytestmark = pytest.mark.usefixtures('single_torch_thread')
FLOOR = 0.05  # the default score_floor, equal to the models' rcnn.score_thr
MAX_PER_IMG = 20  # pseudo_label_checkpoints.detector_cfg


@pytest.fixture(scope='module')
def plain(tmp_path_factory):
    return plain_checkpoint(tmp_path_factory.mktemp('plain'))


@pytest.fixture(scope='module')
def semi(tmp_path_factory):
    return semi_checkpoint(tmp_path_factory.mktemp('semi'))


def unlabeled(root):
    return osp.join(root, 'annotations', 'unlabeled.json'), osp.join(root, 'images')


def load(path):
    with open(path) as f:
        return json.load(f)


def reference(config, checkpoint, paths, cfg_options=None):
    """mmdet's own inference on each file: (xyxy, scores, labels) numpy arrays."""
    model = init_detector(config, checkpoint, device='cpu', palette='random', cfg_options=cfg_options)
    found = []
    for path in paths:
        pred = inference_detector(model, path).pred_instances
        found.append((pred.bboxes.numpy(), pred.scores.numpy(), pred.labels.numpy()))
    return found


def check_same_detections(annotations, found, categories, floor=FLOOR):
    """The image's annotations are ``found`` above the floor, by descending score, as xywh boxes."""
    bboxes, scores, labels = found
    keep = np.flatnonzero(scores >= floor)
    keep = keep[np.argsort(-scores[keep], kind='stable')]
    assert len(annotations) == len(keep)
    if not len(keep):
        return
    xyxy = bboxes[keep]
    xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
    np.testing.assert_allclose([a['bbox'] for a in annotations], xywh, atol=1e-4)
    np.testing.assert_allclose([a['score'] for a in annotations], scores[keep], atol=1e-6)
    assert [a['category_id'] for a in annotations] == [categories[i]['id'] for i in labels[keep]]
    np.testing.assert_allclose([a['area'] for a in annotations], xywh[:, 2] * xywh[:, 3], atol=1e-3)


def by_image(coco):
    grouped = {image['id']: [] for image in coco['images']}
    for annotation in coco['annotations']:
        grouped[annotation['image_id']].append(annotation)
    return grouped


def test_file_holds_the_detectors_own_predictions(plain, synthetic_data, tmp_path):
    config, checkpoint = plain
    images_json, img_dir = unlabeled(synthetic_data)
    out = str(tmp_path / 'pseudo.json')
    floor = 0.3
    summary = write_pseudo_labels(config, checkpoint, images_json, out, img_dir=img_dir,
                                  score_floor=floor, progress=False)
    coco, source = load(out), load(images_json)
    assert coco['images'] == source['images']  # records kept exactly, in input order
    assert coco['categories'] == source['categories']  # same names: the input's ids
    assert coco['info'] == dict(
        description=coco['info']['description'], config=config, checkpoint=checkpoint, model=None,
        score_floor=floor, flip=False, images=images_json, img_dir=img_dir, cfg_options=None)
    assert (summary.images, summary.boxes, summary.skipped, summary.labeled) == \
        (12, len(coco['annotations']), 0, 12)
    assert not osp.exists(out + '.parts') and not osp.exists(out + '.tmp')

    found = reference(config, checkpoint, [osp.join(img_dir, i['file_name']) for i in source['images']])
    assert sum(int((f[1] < floor).sum()) for f in found) > 0  # the floor has something to remove
    grouped = by_image(coco)
    for image, detections in zip(source['images'], found):
        check_same_detections(grouped[image['id']], detections, coco['categories'], floor)
    assert min(a['score'] for a in coco['annotations']) >= floor
    assert [a['id'] for a in coco['annotations']] == list(range(1, len(coco['annotations']) + 1))
    order = [(a['image_id'], -a['score']) for a in coco['annotations']]
    assert order == sorted(order)  # image-id order, then descending score
    assert all(a['iscrowd'] == 0 for a in coco['annotations'])


def test_a_floor_below_the_models_threshold_lowers_it(plain, synthetic_data, tmp_path):
    """score_floor 0.01 < rcnn.score_thr 0.05: the file has the boxes a 0.01 threshold gives."""
    config, checkpoint = plain
    images_json, img_dir = unlabeled(synthetic_data)
    out = str(tmp_path / 'pseudo.json')
    write_pseudo_labels(config, checkpoint, images_json, out, img_dir=img_dir, score_floor=0.01,
                        progress=False)
    coco = load(out)
    found = reference(config, checkpoint, [osp.join(img_dir, i['file_name']) for i in coco['images']],
                      cfg_options={'model.test_cfg.rcnn.score_thr': 0.01})
    grouped = by_image(coco)
    for image, detections in zip(coco['images'], found):
        check_same_detections(grouped[image['id']], detections, coco['categories'], floor=0.01)
    assert min(a['score'] for a in coco['annotations']) < FLOOR


@pytest.mark.parametrize('choice', ['teacher', 'student', None])
def test_teacher_or_student_of_a_teacher_student_checkpoint(semi, synthetic_data, tmp_path, choice):
    config, checkpoint = semi
    images_json, img_dir = unlabeled(synthetic_data)
    out = str(tmp_path / 'pseudo.json')
    write_pseudo_labels(config, checkpoint, images_json, out, img_dir=img_dir, model=choice,
                        progress=False)
    coco = load(out)
    expected = choice or 'teacher'  # the config's semi_test_cfg.predict_on
    assert coco['info']['model'] == expected
    paths = [osp.join(img_dir, i['file_name']) for i in coco['images']]
    grouped = by_image(coco)
    for name in ('teacher', 'student'):
        found = reference(config, checkpoint, paths, {'model.semi_test_cfg.predict_on': name})
        same = True
        for image, detections in zip(coco['images'], found):
            if name == expected:
                check_same_detections(grouped[image['id']], detections, coco['categories'])
            else:  # the other half's predictions are not what was written
                try:
                    check_same_detections(grouped[image['id']], detections, coco['categories'])
                except AssertionError:
                    same = False
        assert same == (name == expected)


def test_flip_merges_the_image_and_its_mirror(plain, synthetic_data, tmp_path):
    config, checkpoint = plain
    images_json, img_dir = unlabeled(synthetic_data)
    source = load(images_json)
    one = dict(source, images=source['images'][:1])
    one_json = str(tmp_path / 'one.json')
    with open(one_json, 'w') as f:
        json.dump(one, f)
    out = str(tmp_path / 'pseudo.json')
    write_pseudo_labels(config, checkpoint, one_json, out, img_dir=img_dir, flip=True, progress=False)
    coco = load(out)
    assert coco['info']['flip'] is True

    path = osp.join(img_dir, one['images'][0]['file_name'])
    image = mmcv.imread(path)
    mirror_path = str(tmp_path / 'mirror.png')  # lossless: the same pixels the writer mirrors
    mmcv.imwrite(np.ascontiguousarray(image[:, ::-1]), mirror_path)
    direct, mirrored = [tuple(torch.from_numpy(a) for a in f)
                        for f in reference(config, checkpoint, [path, mirror_path])]
    merged = [t.numpy() for t in merge_flip_detections(direct, mirrored, image.shape[1], 0.5, MAX_PER_IMG)]
    check_same_detections(coco['annotations'], merged, coco['categories'])
    # Both views contribute: some kept boxes are mirrored ones, which no direct box matches.
    direct_boxes = {tuple(np.round(b, 3)) for b in direct[0].numpy()}
    assert any(tuple(np.round(b, 3)) not in direct_boxes for b in merged[0])


def test_folder_input(plain, synthetic_data, tmp_path):
    """Images sorted by name get ids 1..N and their decoded size; other files are ignored."""
    config, checkpoint = plain
    folder = tmp_path / 'images'
    folder.mkdir()
    rng = np.random.default_rng(0)
    mmcv.imwrite(rng.integers(0, 255, (48, 80, 3), dtype=np.uint8), str(folder / 'b.png'))
    shutil.copy(osp.join(synthetic_data, 'images', '000000.jpg'), folder / 'a.JPG')
    (folder / 'notes.txt').write_text('not an image')
    (folder / '.hidden.png').write_bytes(b'')
    out = str(tmp_path / 'pseudo.json')
    summary = write_pseudo_labels(config, checkpoint, str(folder), out, progress=False)
    coco = load(out)
    assert coco['images'] == [dict(id=1, file_name='a.JPG', width=64, height=64),
                              dict(id=2, file_name='b.png', width=80, height=48)]
    assert coco['categories'] == [dict(id=i + 1, name=n, supercategory=n) for i, n in enumerate(CLASSES)]
    assert summary.images == 2
    found = reference(config, checkpoint, [str(folder / 'a.JPG'), str(folder / 'b.png')])
    grouped = by_image(coco)
    for image_id, detections in zip((1, 2), found):
        check_same_detections(grouped[image_id], detections, coco['categories'])


def test_categories_take_the_input_ids_by_name():
    source = [dict(id=7, name='triangle'), dict(id=3, name='ellipse', supercategory='shape'),
              dict(id=5, name='rectangle')]
    assert output_categories(CLASSES, source) == [dict(id=3, name='ellipse', supercategory='shape'),
                                                  dict(id=5, name='rectangle'),
                                                  dict(id=7, name='triangle')]
    expected = [dict(id=1, name='ellipse', supercategory='ellipse'),
                dict(id=2, name='rectangle', supercategory='rectangle'),
                dict(id=3, name='triangle', supercategory='triangle')]
    assert output_categories(CLASSES, source[:2]) == expected  # 'rectangle' missing: 1..C
    assert output_categories(CLASSES, None) == expected


def test_resume_after_a_cut_off_line(plain, synthetic_data, tmp_path, monkeypatch):
    """Parts as a kill leaves them (3 finished images, the 4th cut mid-line): the rerun labels the rest
    and writes the same bytes as an uninterrupted run."""
    config, checkpoint = plain
    images_json, img_dir = unlabeled(synthetic_data)
    out = str(tmp_path / 'pseudo.json')
    kwargs = dict(img_dir=img_dir, progress=False)
    with monkeypatch.context() as patch:  # keep the parts of a complete run
        patch.setattr(store, 'remove_parts', lambda out: None)
        write_pseudo_labels(config, checkpoint, images_json, out, **kwargs)
    with open(out, 'rb') as f:
        uninterrupted = f.read()
    os.remove(out)
    part = store.rank_file(out, 0)
    with open(part, 'rb') as f:
        lines = f.read().split(b'\n')
    with open(part, 'wb') as f:
        f.write(b'\n'.join(lines[:3]) + b'\n' + lines[3][:len(lines[3]) // 2])
    summary = write_pseudo_labels(config, checkpoint, images_json, out, **kwargs)
    assert (summary.skipped, summary.labeled, summary.images) == (3, 9, 12)
    with open(out, 'rb') as f:
        assert f.read() == uninterrupted
    assert not osp.exists(out + '.parts')


def test_a_damaged_line_that_is_not_the_last_is_an_error(plain, synthetic_data, tmp_path):
    config, checkpoint = plain
    images_json, img_dir = unlabeled(synthetic_data)
    out = str(tmp_path / 'pseudo.json')
    with pytest.raises(PseudoLabelError, match='does not exist'):  # leaves a parts folder behind
        write_pseudo_labels(config, checkpoint, images_json, out, img_dir=str(tmp_path), progress=False)
    with open(store.rank_file(out, 0), 'wb') as f:
        f.write(b'{"image": \n{}\n')
    with pytest.raises(PseudoLabelError, match=r'rank0.jsonl, line 1: not a finished image .*delete'):
        write_pseudo_labels(config, checkpoint, images_json, out, img_dir=str(tmp_path), progress=False)


def write(path, content):
    with open(path, 'w') as f:
        f.write(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def test_errors_name_the_input(plain, semi, synthetic_data, tmp_path):
    config, checkpoint = plain
    images_json, img_dir = unlabeled(synthetic_data)
    out = str(tmp_path / 'out' / 'pseudo.json')

    def error(*args, **kwargs):
        with pytest.raises(PseudoLabelError) as info:
            write_pseudo_labels(*args, progress=False, **kwargs)
        return str(info.value)

    assert error(config, str(tmp_path / 'no.pth'), images_json, out) == \
        f'checkpoint {tmp_path}/no.pth does not exist'
    text = write(tmp_path / 'list.txt', 'a.jpg')
    assert error(config, checkpoint, text, out) == (
        f'--images {text} is neither a .json file nor a folder: give a COCO json (with `images`) or '
        f'a folder of images')
    assert 'does not exist' in error(config, checkpoint, str(tmp_path / 'nothing'), out)
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'readme.md').write_text('no pictures')
    assert error(config, checkpoint, str(empty), out) == \
        f'--images {empty}: the folder holds no image (jpg/jpeg/png/tif/tiff file)'
    no_images = write(tmp_path / 'no_images.json', dict(annotations=[], categories=[]))
    assert 'needs an `images` list' in error(config, checkpoint, no_images, out)
    assert 'needs a teacher-student config (model.detector); FasterRCNN is a plain detector' in \
        error(config, checkpoint, images_json, out, img_dir=img_dir, model='teacher')
    assert not osp.exists(out + '.parts')  # nothing written for input errors

    blocker = write(tmp_path / 'file', 'a file where a folder should be')
    assert error(config, checkpoint, images_json, osp.join(blocker, 'pseudo.json'),
                 img_dir=img_dir).startswith(f'--out {blocker}/pseudo.json: cannot write next to it')

    broken = tmp_path / 'broken'
    broken.mkdir()
    shutil.copy(osp.join(img_dir, '000000.jpg'), broken / 'good.jpg')
    (broken / 'text.jpg').write_text('hello')
    images = [dict(id=1, file_name='good.jpg'), dict(id=2, file_name='text.jpg'),
              dict(id=3, file_name='gone.jpg')]
    bad_json = write(tmp_path / 'bad.json', dict(images=images))
    message = error(config, checkpoint, bad_json, str(tmp_path / 'b.json'), img_dir=str(broken))
    assert message.startswith(f'image {broken}/text.jpg (image id 2) is not an image')
    bad_json = write(tmp_path / 'bad.json', dict(images=images[:1] + images[2:]))
    message = error(config, checkpoint, bad_json, str(tmp_path / 'c.json'), img_dir=str(broken))
    assert message == (f'image {broken}/gone.jpg (image id 3) does not exist: fix or remove it, then '
                       f'run again (finished images are kept)')

    # The parts of the run above (image 1 finished) belong to the plain model: another is refused.
    semi_config, semi_ckpt = semi
    message = error(semi_config, semi_ckpt, bad_json, str(tmp_path / 'c.json'), img_dir=str(broken))
    assert 'holds the finished images of a run with other inputs' in message
    assert 'checkpoint' in message and 'config' in message
