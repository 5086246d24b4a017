"""Tests of ssod/data/synthetic.py (rendering, the written data set) and its command line,
tools/data/make_synthetic.py."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from ssod.data import synthetic as make_synthetic
from tests.scripts import load_script

tool = load_script('tools/data/make_synthetic.py')

ANNOTATION_FILES = ('labeled.json', 'unlabeled.json', 'unlabeled-hidden-gt.json', 'val.json')
# A pixel counts as "changed by an object" when some channel differs from the background by this many
# grey levels; objects are painted with >= 80 levels of contrast, minus texture noise.
CLEAR_CHANGE = 40


def read_json(path):
    with open(path) as f:
        return json.load(f)


def read_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def index_of(image_entry):
    """Data set index of a COCO image entry (its file is ``<index>.jpg``)."""
    return int(osp.splitext(image_entry['file_name'])[0])


# ------------------------------------------------------------------------------------------ render

def test_render_is_deterministic_in_index_and_seed():
    image_a, boxes_a = make_synthetic.render_image(5, 0, 96, 6)
    image_b, boxes_b = make_synthetic.render_image(5, 0, 96, 6)
    assert np.array_equal(image_a, image_b) and boxes_a == boxes_b
    other_seed, _ = make_synthetic.render_image(5, 1, 96, 6)
    other_index, _ = make_synthetic.render_image(6, 0, 96, 6)
    assert not np.array_equal(image_a, other_seed)
    assert not np.array_equal(image_a, other_index)


@pytest.mark.parametrize('image_size', [32, 64, 160])
def test_boxes_are_inside_image_non_degenerate_with_valid_classes(image_size):
    num_classes, all_classes = 6, set()
    for index in range(40):
        image, boxes = make_synthetic.render_image(index, 3, image_size, num_classes)
        assert image.shape == (image_size, image_size, 3) and image.dtype == np.uint8
        assert len(boxes) <= make_synthetic.MAX_OBJECTS
        for class_id, x1, y1, x2, y2 in boxes:
            assert 0 <= class_id < num_classes
            assert 0 <= x1 < x2 <= image_size and 0 <= y1 < y2 <= image_size
            assert x2 - x1 >= make_synthetic.MIN_BOX_SIDE and y2 - y1 >= make_synthetic.MIN_BOX_SIDE
            all_classes.add(class_id)
    assert all_classes == set(range(num_classes))


def test_objects_are_visible_and_boxes_tight():
    """Inside every box the image clearly differs from the background; the box touches the object.

    * at least a quarter of the box's pixels differ from the background by >= CLEAR_CHANGE grey levels
      (measured minimum over 4,000 boxes is ~0.32; a box around nothing would give ~0);
    * the first and last row and column of the box each hold a changed pixel (the box is tight);
    * where no object is painted the image equals the background (clutter is background, not object).
    """
    checked = 0
    for index in range(60):
        scene = make_synthetic.render_scene(index, 7, 128 if index % 2 else 64, 6)
        change = np.abs(scene.image.astype(np.int16) - scene.background.astype(np.int16)).max(axis=2)
        assert np.all(change[scene.owner < 0] == 0)
        for class_id, x1, y1, x2, y2 in scene.annotations():
            inside = change[y1:y2, x1:x2]
            assert (inside >= CLEAR_CHANGE).mean() >= 0.25, (index, x1, y1, x2, y2)
            touched = inside > 0
            assert touched[0].any() and touched[-1].any(), (index, x1, y1, x2, y2)
            assert touched[:, 0].any() and touched[:, -1].any(), (index, x1, y1, x2, y2)
            checked += 1
    assert checked > 100


def test_heavily_occluded_objects_get_no_box():
    dropped = annotated = 0
    for index in range(200):
        scene = make_synthetic.render_scene(index, 0, 128, 6)
        for obj in scene.objects:
            if obj.annotated:
                annotated += 1
                assert obj.visible_fraction >= make_synthetic.MIN_VISIBLE_FRACTION
            elif obj.visible_fraction < make_synthetic.MIN_VISIBLE_FRACTION:
                dropped += 1
        assert len(scene.annotations()) == sum(obj.annotated for obj in scene.objects)
    assert dropped > 0 and annotated > 10 * dropped


@pytest.mark.parametrize('num_classes', [0, len(make_synthetic.SHAPE_KINDS) + 1])
def test_render_rejects_bad_num_classes(num_classes):
    with pytest.raises(ValueError, match='num_classes'):
        make_synthetic.render_image(0, 0, 64, num_classes)


# ----------------------------------------------------------------------------------------- data set

NUM_IMAGES, VAL_IMAGES, IMAGE_SIZE, NUM_CLASSES, PERCENT, SEED = 40, 6, 96, 4, 25.0, 3


def generate_into(folder, workers):
    return make_synthetic.generate(str(folder), NUM_IMAGES, IMAGE_SIZE, NUM_CLASSES, PERCENT, VAL_IMAGES,
                                   SEED, workers=workers, print_fn=lambda line: None)


@pytest.fixture(scope='module')
def data_sets(tmp_path_factory):
    """The same small data set generated with 1 and with 2 workers."""
    one = tmp_path_factory.mktemp('one_worker')
    two = tmp_path_factory.mktemp('two_workers')
    return dict(one=(one, generate_into(one, 1)), two=(two, generate_into(two, 2)))


def test_split_counts_add_up(data_sets):
    folder, _ = data_sets['one']
    coco = {name: read_json(osp.join(folder, 'annotations', name)) for name in ANNOTATION_FILES}
    labeled, unlabeled = coco['labeled.json'], coco['unlabeled.json']
    assert len(labeled['images']) == round(NUM_IMAGES * PERCENT / 100)
    assert len(labeled['images']) + len(unlabeled['images']) == NUM_IMAGES
    train_indices = {index_of(img) for img in labeled['images'] + unlabeled['images']}
    assert train_indices == set(range(NUM_IMAGES))
    assert {index_of(img) for img in coco['val.json']['images']} == set(
        range(NUM_IMAGES, NUM_IMAGES + VAL_IMAGES))
    for content in coco.values():
        assert [c['name'] for c in content['categories']] == list(
            make_synthetic.SHAPE_KINDS[:NUM_CLASSES])
        for img in content['images']:
            assert img['id'] == index_of(img) + 1
            assert (img['width'], img['height']) == (IMAGE_SIZE, IMAGE_SIZE)
            assert osp.isfile(osp.join(folder, 'images', img['file_name']))


def test_unlabeled_has_no_boxes_and_hidden_gt_has_exactly_theirs(data_sets):
    folder, files = data_sets['one']
    unlabeled = read_json(osp.join(folder, 'annotations', 'unlabeled.json'))
    hidden = read_json(osp.join(folder, 'annotations', 'unlabeled-hidden-gt.json'))
    assert unlabeled['annotations'] == [] and len(unlabeled['categories']) == NUM_CLASSES
    assert hidden['images'] == unlabeled['images']
    expected = []
    for img in unlabeled['images']:
        _, boxes = make_synthetic.render_image(index_of(img), SEED, IMAGE_SIZE, NUM_CLASSES)
        expected += [(img['id'], c + 1, [float(x1), float(y1), float(x2 - x1), float(y2 - y1)])
                     for c, x1, y1, x2, y2 in boxes]
    found = [(a['image_id'], a['category_id'], a['bbox']) for a in hidden['annotations']]
    assert sorted(found) == sorted(expected) and found
    assert files['hidden_gt']['annotations'] == hidden['annotations']


def test_every_annotation_file_loads_in_pycocotools(data_sets):
    folder, _ = data_sets['one']
    for name in ANNOTATION_FILES:
        coco = COCO(osp.join(folder, 'annotations', name))
        assert len(coco.getImgIds()) > 0 and len(coco.getCatIds()) == NUM_CLASSES
        if name != 'unlabeled.json':
            assert len(coco.getAnnIds()) > 0


def test_written_images_match_render(data_sets):
    folder, _ = data_sets['one']
    for index in (0, NUM_IMAGES + VAL_IMAGES - 1):
        written = cv2.imread(osp.join(folder, 'images', make_synthetic.image_file_name(index)))
        rendered, _ = make_synthetic.render_image(index, SEED, IMAGE_SIZE, NUM_CLASSES)
        assert written.shape == rendered.shape
        # JPEG quality 95, 4:4:4: a few grey levels of error on average (~2.6 measured at 256 px)
        assert np.abs(written.astype(np.int16) - rendered.astype(np.int16)).mean() < 5


def test_output_does_not_depend_on_worker_count(data_sets):
    (one, _), (two, _) = data_sets['one'], data_sets['two']
    for name in ANNOTATION_FILES:
        assert read_bytes(osp.join(one, 'annotations', name)) == read_bytes(
            osp.join(two, 'annotations', name))
    for index in range(NUM_IMAGES + VAL_IMAGES):
        name = make_synthetic.image_file_name(index)
        assert read_bytes(osp.join(one, 'images', name)) == read_bytes(osp.join(two, 'images', name))


# ------------------------------------------------------------------------------------- command line

def cli_args(out, num_images=10, *extra):
    return ['--out', str(out), '--num-images', str(num_images), '--image-size', '64',
            '--num-classes', '2', '--labeled-percent', '30', '--val-images', '3', '--seed', '1',
            '--workers', '1', *extra]


def test_main_is_idempotent_and_force_regenerates(tmp_path, capsys):
    out = tmp_path / 'synthetic'
    assert tool.main(cli_args(out)) == 0
    first = capsys.readouterr().out
    assert '100%' in first and 'labeled.json' in first and 'done in' in first
    assert osp.isfile(out / make_synthetic.STAMP_NAME)
    labeled_before = read_bytes(out / 'annotations' / 'labeled.json')

    assert tool.main(cli_args(out, 10, '--workers', '2')) == 0
    assert 'up to date' in capsys.readouterr().out

    assert tool.main(cli_args(out, 10, '--force')) == 0
    assert 'done in' in capsys.readouterr().out
    assert read_bytes(out / 'annotations' / 'labeled.json') == labeled_before


def test_main_regenerates_when_arguments_change(tmp_path, capsys):
    out = tmp_path / 'synthetic'
    assert tool.main(cli_args(out, 10)) == 0
    assert tool.main(cli_args(out, 4)) == 0
    assert 'done in' in capsys.readouterr().out
    images = sorted(p.name for p in (out / 'images').iterdir())
    assert images == [make_synthetic.image_file_name(i) for i in range(4 + 3)]
    assert make_synthetic.read_stamp(str(out))['num_images'] == 4


def test_main_regenerates_missing_files(tmp_path, capsys):
    out = tmp_path / 'synthetic'
    assert tool.main(cli_args(out)) == 0
    (out / 'images' / make_synthetic.image_file_name(2)).unlink()
    capsys.readouterr()
    assert tool.main(cli_args(out)) == 0
    assert 'done in' in capsys.readouterr().out
    assert (out / 'images' / make_synthetic.image_file_name(2)).is_file()


@pytest.mark.parametrize('option, value', [
    ('--num-images', '1'),
    ('--image-size', '31'),
    ('--num-classes', '0'),
    ('--num-classes', str(len(make_synthetic.SHAPE_KINDS) + 1)),
    ('--labeled-percent', '0'),
    ('--labeled-percent', '100'),
    ('--labeled-percent', '-5'),
    ('--val-images', '0'),
    ('--seed', '-1'),
    ('--workers', '0'),
])
def test_bad_arguments_exit_2_with_clear_error(tmp_path, capsys, option, value):
    out = tmp_path / 'synthetic'
    with pytest.raises(SystemExit) as exit_info:
        tool.main(cli_args(out) + [option, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert 'error: ' + option in err and 'Traceback' not in err
    assert not out.exists()
