"""COCO file helpers: labeled/unlabeled split without replacement, subsets, atomic writes."""
import json
import os

import pytest

from ssod.data import coco_files


def toy_coco(num_images):
    categories = coco_files.make_categories(['a', 'b'])
    images = [dict(id=i, file_name=f'{i}.jpg', width=10, height=10) for i in range(1, num_images + 1)]
    anns = [coco_files.box_annotation(i, 1 + i % 2, 0, 0, 2 + i % 3, 4) for i in range(1, num_images + 1)]
    return coco_files.coco_dict(images, anns, categories)


@pytest.mark.parametrize('num_images,percent,expected', [(1000, 10, 100), (1000, 1, 10), (7, 50, 4),
                                                         (10, 1, 1), (10, 99.9, 9)])
def test_labeled_count_is_exact_and_disjoint(num_images, percent, expected):
    labeled, unlabeled = coco_files.choose_labeled(range(num_images), percent, seed=3)
    assert len(labeled) == expected
    assert len(set(labeled)) == expected  # without replacement
    assert sorted(labeled + unlabeled) == list(range(num_images))


def test_split_is_deterministic_in_seed():
    first = coco_files.choose_labeled(range(500), 10, seed=1)
    assert first == coco_files.choose_labeled(range(500), 10, seed=1)
    assert first != coco_files.choose_labeled(range(500), 10, seed=2)


@pytest.mark.parametrize('percent', [0, 100, -5, 150])
def test_percent_outside_open_interval_is_rejected(percent):
    with pytest.raises(ValueError, match=r'in \(0, 100\)'):
        coco_files.choose_labeled(range(10), percent, seed=0)


def test_degenerate_box_and_duplicate_classes_are_rejected():
    with pytest.raises(ValueError, match='degenerate box'):
        coco_files.box_annotation(1, 1, 5, 5, 5, 9)
    with pytest.raises(ValueError, match='unique'):
        coco_files.make_categories(['a', 'a'])


def test_write_semi_split_hides_unlabeled_boxes(tmp_path):
    train, val = toy_coco(20), toy_coco(3)
    files = coco_files.write_semi_split(str(tmp_path), train, val, percent=25, seed=0)
    on_disk = {role: json.loads((tmp_path / name).read_text())
               for role, name in coco_files.SPLIT_FILE_NAMES.items()}
    assert on_disk == json.loads(json.dumps(files))
    assert len(on_disk['labeled']['images']) == 5
    assert on_disk['unlabeled']['annotations'] == []
    assert on_disk['unlabeled']['categories'] == train['categories']
    unlabeled_ids = {img['id'] for img in on_disk['unlabeled']['images']}
    assert {a['image_id'] for a in on_disk['hidden_gt']['annotations']} == unlabeled_ids
    assert len(on_disk['labeled']['annotations']) + len(on_disk['hidden_gt']['annotations']) == 20
    assert '5 images' in coco_files.summary(files)


def test_write_json_leaves_no_partial_file(tmp_path):
    path = str(tmp_path / 'out.json')
    with pytest.raises(TypeError):
        coco_files.write_json(path, dict(bad=object()))
    assert os.listdir(tmp_path) == []
