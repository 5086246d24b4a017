"""Tests of ssod/data/coco_split.py and tools/data/split_coco.py on small
generated COCO files: exact counts, disjoint and complete
splits, hidden ground truth, reproducibility, file names, and every bad-input error."""
import json
from pathlib import Path

import pytest

from ssod.data import coco_split as sc
from tests.scripts import load_script

tool = load_script('tools/data/split_coco.py')

CATEGORIES = [dict(id=1, name='person', supercategory='person'),
              dict(id=3, name='car', supercategory='car')]


def fake_coco(num_images, first_id=1, shuffle_seed=None):
    """Image ``k`` (id ``first_id + k``) has ``k % 4`` boxes; ids are not contiguous with 0."""
    images = [dict(id=first_id + k, file_name=f'{first_id + k:012d}.jpg', width=640, height=480)
              for k in range(num_images)]
    annotations = []
    for k, image in enumerate(images):
        for j in range(k % 4):
            annotations.append(dict(id=1000 + len(annotations), image_id=image['id'],
                                    category_id=1 + 2 * (j % 2), bbox=[10.0 * j, 5.0, 20.0, 30.0 + k],
                                    area=20.0 * (30.0 + k), iscrowd=0))
    if shuffle_seed is not None:
        import random
        random.Random(shuffle_seed).shuffle(images)
        random.Random(shuffle_seed).shuffle(annotations)
    return dict(info=dict(description='fake'), licenses=[], images=images, annotations=annotations,
                categories=CATEGORIES)


def write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def load(path):
    return json.loads(Path(path).read_text())


@pytest.fixture
def coco_file(tmp_path):
    return write(tmp_path / 'annotations' / 'instances_train2017.json', fake_coco(200))


def quiet(*_):
    pass


def test_counts_names_and_disjoint_complete_splits(coco_file, tmp_path):
    coco = load(coco_file)
    boxes_of = {}
    for ann in coco['annotations']:
        boxes_of.setdefault(ann['image_id'], []).append(ann['bbox'])
    all_ids = {img['id'] for img in coco['images']}
    out = tmp_path / 'splits'
    reports = sc.write_splits(str(coco_file), str(out), [1, 2, 5, 10], [1, 2, 3, 4, 5], log=quiet)
    assert len(reports) == 20
    expected_labeled = {1: 2, 2: 4, 5: 10, 10: 20}  # round(200 * p / 100), exactly
    for report in reports:
        name = f'instances_train2017.{report.fold}@{report.percent:g}'
        assert {r: Path(p).name for r, p in report.paths.items()} == {
            'labeled': f'{name}.json', 'unlabeled': f'{name}-unlabeled.json',
            'hidden_gt': f'{name}-unlabeled-hidden-gt.json'}
        labeled, unlabeled, hidden = (load(report.paths[r]) for r in sc.ROLES)
        labeled_ids = [img['id'] for img in labeled['images']]
        unlabeled_ids = [img['id'] for img in unlabeled['images']]
        n_labeled = expected_labeled[int(report.percent)]
        assert len(labeled_ids) == n_labeled and len(unlabeled_ids) == 200 - n_labeled
        assert report.realised_percent == pytest.approx(report.percent, abs=1e-12)
        assert not set(labeled_ids) & set(unlabeled_ids)
        assert set(labeled_ids) | set(unlabeled_ids) == all_ids
        # Labeled file: exactly its images' boxes; unlabeled file: none; hidden GT: the rest.
        assert len(labeled['annotations']) == sum(len(boxes_of.get(i, [])) for i in labeled_ids)
        assert unlabeled['annotations'] == []
        assert [img['id'] for img in hidden['images']] == unlabeled_ids
        assert len(hidden['annotations']) == len(coco['annotations']) - len(labeled['annotations'])
        for part in (labeled, hidden):
            by_image = {}
            for ann in part['annotations']:
                by_image.setdefault(ann['image_id'], []).append(ann['bbox'])
            assert by_image == {i: boxes_of[i] for i in map(lambda img: img['id'], part['images'])
                                if i in boxes_of}
            ids = sorted(a['id'] for a in part['annotations'])
            assert ids == list(range(1, len(part['annotations']) + 1))
        for part in (labeled, unlabeled, hidden):
            assert part['categories'] == CATEGORIES
        assert report.images == dict(labeled=n_labeled, unlabeled=200 - n_labeled,
                                     hidden_gt=200 - n_labeled)
        assert report.annotations == dict(labeled=len(labeled['annotations']), unlabeled=0,
                                          hidden_gt=len(hidden['annotations']))


def test_ten_percent_is_ten_percent(tmp_path):
    coco_file = write(tmp_path / 'instances_train2017.json', fake_coco(1001))
    report, = sc.write_splits(str(coco_file), str(tmp_path / 'out'), [10], [1], log=quiet)
    assert report.images['labeled'] == 100  # round(100.1)
    assert report.realised_percent == pytest.approx(100 * 100 / 1001)
    coco_file = write(tmp_path / 'instances_train2017.json', fake_coco(1000))
    report, = sc.write_splits(str(coco_file), str(tmp_path / 'out'), [10], [3], log=quiet)
    assert report.images['labeled'] == 100 and report.realised_percent == 10.0
    labeled = load(report.paths['labeled'])
    assert len({img['id'] for img in labeled['images']}) == 100  # no duplicates (no replacement)


def test_reproducible_and_fold_dependent(coco_file, tmp_path):
    first = sc.write_splits(str(coco_file), str(tmp_path / 'a'), [10], [1, 2, 3, 4, 5], log=quiet)
    second = sc.write_splits(str(coco_file), str(tmp_path / 'b'), [10], [1, 2, 3, 4, 5], log=quiet)
    for one, two in zip(first, second):
        for role in one.paths:
            assert Path(one.paths[role]).read_bytes() == Path(two.paths[role]).read_bytes()
    labeled_sets = [frozenset(img['id'] for img in load(r.paths['labeled'])['images']) for r in first]
    assert len(set(labeled_sets)) == 5  # every fold is a different split
    # The split depends on the set of image ids, not on their order in the file.
    shuffled = write(tmp_path / 'shuffled' / 'instances_train2017.json', fake_coco(200, shuffle_seed=7))
    again = sc.write_splits(str(shuffled), str(tmp_path / 'c'), [10], [1, 2, 3, 4, 5], log=quiet)
    again_sets = [frozenset(img['id'] for img in load(r.paths['labeled'])['images']) for r in again]
    assert again_sets == labeled_sets
    # The seed is fold + offset: fold 1 with offset 2 is fold 3 with offset 0.
    shifted = sc.write_splits(str(coco_file), str(tmp_path / 'd'), [10], [1], seed_offset=2, log=quiet)
    assert shifted[0].seed == 3
    assert frozenset(img['id'] for img in load(shifted[0].paths['labeled'])['images']) == labeled_sets[2]


def test_main_defaults_and_report(coco_file, capsys):
    assert tool.main([str(coco_file)]) == 0
    out_dir = coco_file.parent / 'semi_supervised'
    names = sorted(p.name for p in out_dir.iterdir())
    assert len(names) == 4 * 5 * 3
    assert 'instances_train2017.1@10.json' in names and 'instances_train2017.5@1-unlabeled.json' in names
    assert 'instances_train2017.3@2-unlabeled-hidden-gt.json' in names
    out = capsys.readouterr().out
    num_annotations = len(load(coco_file)['annotations'])
    assert f'{coco_file}: 200 images, {num_annotations} annotations, 2 categories' in out
    assert '10 % fold 1 (seed 1): 10.000 % of the images labeled' in out
    assert '5 % fold 5 (seed 5): 5.000 % of the images labeled' in out
    labeled = load(out_dir / 'instances_train2017.2@5.json')
    line = [ln for ln in out.splitlines() if 'instances_train2017.2@5.json' in ln][0]
    assert line.split()[1:] == ['10', 'images', str(len(labeled['annotations'])), 'annotations']
    assert 'wrote 20 split(s) into' in out


def test_no_hidden_gt_other_stem_and_fractional_percent(tmp_path, capsys):
    coco_file = write(tmp_path / 'ann' / 'my_train.json', fake_coco(40))
    assert tool.main([str(coco_file), '--out', str(tmp_path / 'o'), '--percent', '2.5', '12.5', '2.5',
                    '--fold', '4', '--no-hidden-gt']) == 0
    assert sorted(p.name for p in (tmp_path / 'o').iterdir()) == [
        'my_train.4@12.5-unlabeled.json', 'my_train.4@12.5.json',
        'my_train.4@2.5-unlabeled.json', 'my_train.4@2.5.json']
    assert len(load(tmp_path / 'o' / 'my_train.4@12.5.json')['images']) == 5  # 12.5 % of 40
    assert len(load(tmp_path / 'o' / 'my_train.4@2.5.json')['images']) == 1  # 2.5 % of 40
    assert sc.percent_text(10.0) == '10' and sc.percent_text(0.5) == '0.5'


def test_tiny_percent_still_labels_one_image(tmp_path):
    coco_file = write(tmp_path / 'instances_train2017.json', fake_coco(20))
    report, = sc.write_splits(str(coco_file), str(tmp_path / 'o'), [1], [1], log=quiet)
    assert report.images == dict(labeled=1, unlabeled=19, hidden_gt=19)  # round(0.2) = 0, clamped to 1
    assert report.realised_percent == 5.0


# ------------------------------------------------------------------------------------------ bad input

def error_of(capsys, argv):
    assert tool.main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ')
    return err


@pytest.mark.parametrize('percent', ['0', '100', '-5', '150', 'nan'])
def test_percent_outside_0_100(coco_file, capsys, tmp_path, percent):
    err = error_of(capsys, [coco_file, '--out', tmp_path / 'o', '--percent', '10', percent])
    assert '--percent must be in (0, 100)' in err
    assert not (tmp_path / 'o').exists()  # checked before anything is written


def test_missing_file(tmp_path, capsys):
    err = error_of(capsys, [tmp_path / 'nope.json'])
    assert f'annotation file {tmp_path / "nope.json"} does not exist' in err


def test_unreadable_file(tmp_path, capsys):
    bad = tmp_path / 'broken.json'
    bad.write_text('{"images": [')
    assert f'cannot read {bad} as JSON' in error_of(capsys, [bad])
    bad.write_bytes(b'\xff\xfe\x00garbage')
    assert f'cannot read {bad} as JSON' in error_of(capsys, [bad])
    folder = tmp_path / 'a_folder.json'
    folder.mkdir()
    assert f'{folder} is a folder' in error_of(capsys, [folder])
    bad.write_text('[1, 2]')
    assert 'expected a JSON object' in error_of(capsys, [bad])


@pytest.mark.parametrize('images', [None, [], 'x'])
def test_json_without_images(tmp_path, capsys, images):
    coco = fake_coco(10)
    if images is None:
        del coco['images']
    else:
        coco['images'] = images
    path = write(tmp_path / 'x.json', coco)
    assert f"{path} has no images (its 'images' list is missing or empty)" in error_of(capsys, [path])


def test_duplicate_image_ids(tmp_path, capsys):
    coco = fake_coco(10)
    coco['images'][3]['id'] = coco['images'][5]['id']
    coco['images'][7]['id'] = coco['images'][8]['id']
    path = write(tmp_path / 'x.json', coco)
    err = error_of(capsys, [path])
    assert f'{path}: 2 image id(s) occur more than once, e.g. [6, 9]' in err


def test_other_malformed_files(tmp_path, capsys):
    coco = fake_coco(10)
    coco['images'][2] = dict(file_name='x.jpg')
    path = write(tmp_path / 'x.json', coco)
    assert "images[2] has no integer 'id'" in error_of(capsys, [path])
    coco = fake_coco(10)
    coco['annotations'][0]['image_id'] = 999
    path = write(tmp_path / 'x.json', coco)
    assert "annotations[0] refers to image_id 999, which is not in 'images'" in error_of(capsys, [path])
    coco = fake_coco(10)
    del coco['categories']
    path = write(tmp_path / 'x.json', coco)
    assert "has no 'categories' list" in error_of(capsys, [path])
    path = write(tmp_path / 'x.json', fake_coco(1))
    assert 'needs at least 2' in error_of(capsys, [path])


def test_negative_seed(coco_file, capsys):
    err = error_of(capsys, [coco_file, '--fold', '1', '--seed-offset', '-3'])
    assert 'gives the negative seed -2' in err
