"""Tests of ssod/data/tree_crowns.py and its command line tools/data/prepare_tree_crowns.py: geometry,
VOC parsing, errors, a fake wheel end to end, and one run on the real deepforest 2.1.0 wheel (downloaded into a cache; skipped without network)."""
import json
import os
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from ssod.data import tree_crowns as ptc
from tests.scripts import load_script

tool = load_script('tools/data/prepare_tree_crowns.py')

ROLE_FILES = ('labeled.json', 'unlabeled.json', 'unlabeled-hidden-gt.json', 'val.json')


# ------------------------------------------------------------------------------------------ helpers

def voc_xml(image_name, size, boxes, label='Tree'):
    """A Pascal VOC XML string; ``boxes`` are (xmin, ymin, xmax, ymax) tuples of numbers or strings."""
    objects = ''.join(
        f'<object><name>{label}</name><difficult>0</difficult><bndbox><xmin>{b[0]}</xmin>'
        f'<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>' for b in boxes)
    size_xml = f'<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>'
    return (f'<annotation><folder>data</folder><filename>{image_name}</filename>{size_xml}{objects}'
            f'</annotation>')


def png_bytes(width, height, seed):
    """A smooth colour image (compresses well) with a seed-dependent pattern."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([(xx * 3 + seed * 40) % 256, (yy * 2 + seed * 70) % 256, (xx + yy) % 256], axis=2)
    ok, encoded = cv2.imencode('.png', image.astype(np.uint8))
    assert ok
    return encoded.tobytes()


def random_boxes(width, height, count, seed):
    rng = np.random.default_rng(seed)
    boxes = []
    for _ in range(count):
        w, h = rng.integers(6, 20, size=2)
        x, y = rng.integers(0, width - w), rng.integers(0, height - h)
        boxes.append((int(x), int(y), int(x + w), int(y + h)))
    return boxes


def make_wheel(path, files):
    """A zip at ``path`` holding ``files`` (name -> bytes or str) under deepforest/data/."""
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('deepforest/__init__.py', '')
        for name, content in sorted(files.items()):
            zf.writestr('deepforest/data/' + name, content)
    return str(path)


# Sizes (width, height) and box counts of the fake sources; with --tile-size 64:
# a: 200x160 -> 4 x 3 = 12 tiles, b: 128x128 -> 4 tiles, c: 64x64 -> 1, d: 50x40 (smaller) -> 1.
FAKE_SOURCES = {'a': ((200, 160), 30), 'b': ((128, 128), 12), 'c': ((64, 64), 4), 'd': ((50, 40), 3)}


def fake_source_boxes():
    return {stem: random_boxes(*size, count, seed=seed)
            for seed, (stem, (size, count)) in enumerate(sorted(FAKE_SOURCES.items()))}


def fake_wheel_files():
    files = {}
    for seed, (stem, boxes) in enumerate(sorted(fake_source_boxes().items())):
        size = FAKE_SOURCES[stem][0]
        files[f'{stem}.png'] = png_bytes(*size, seed=seed)
        files[f'{stem}.xml'] = voc_xml(f'{stem}.png', size, boxes)
    files['unannotated.png'] = png_bytes(32, 32, seed=9)  # no XML: ignored
    files['boxes.csv'] = 'image_path,xmin,ymin,xmax,ymax,label\na.png,1,1,5,5,Tree\n'  # CSV: ignored
    return files


@pytest.fixture
def fake_wheel(tmp_path):
    return make_wheel(tmp_path / 'fake.whl', fake_wheel_files())


def run_main(capsys, *argv):
    code = tool.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def parse_tile_name(file_name):
    """``a_x64_y96.png`` -> ('a', 64, 96)."""
    stem, x, y = file_name[:-len('.png')].rsplit('_', 2)
    return stem, int(x[1:]), int(y[1:])


def load_annotations(out):
    return {name: json.loads((Path(out) / 'annotations' / name).read_text()) for name in ROLE_FILES}


# ----------------------------------------------------------------------------------------- geometry

@pytest.mark.parametrize('length, expected', [
    (256, [0]),             # exactly one tile
    (300, [0, 44]),         # last tile shifted inward: 44 + 256 = 300
    (600, [0, 256, 344]),   # 344 + 256 = 600
    (100, [0]),             # smaller than a tile: kept whole
    (512, [0, 256]),        # two tiles side by side, no shift needed
])
def test_tile_positions(length, expected):
    assert ptc.tile_positions(length, 256) == expected
    assert all(start + min(256, length) <= length for start in expected)


def test_tile_count_multiplies_axes():
    assert ptc.tile_count(600, 300, 256) == 3 * 2
    assert ptc.tile_count(2299, 2472, 256) == 9 * 10


def test_cut_boxes_keeps_clips_and_drops_by_visible_area():
    boxes = np.array([
        [110, 110, 130, 130],  # inside the tile -> kept as is (shifted)
        [90, 120, 110, 140],   # 10 of 20 px wide inside -> 50 % visible -> kept, clipped
        [86, 150, 106, 170],   # 6 of 20 px inside -> 30 % -> dropped, counted
        [0, 0, 10, 10],        # outside the tile -> ignored, not counted
        [195, 195, 215, 215],  # 5 x 5 of 20 x 20 inside -> 6.25 % -> dropped, counted
    ], dtype=float)
    kept, dropped = ptc.cut_boxes(boxes, 100, 100, 100, 100, min_visible=0.5)
    np.testing.assert_array_equal(kept, [[10, 10, 30, 30], [0, 20, 10, 40]])
    assert dropped == 2

    kept, dropped = ptc.cut_boxes(boxes, 100, 100, 100, 100, min_visible=0.25)
    np.testing.assert_array_equal(kept, [[10, 10, 30, 30], [0, 20, 10, 40], [0, 50, 6, 70]])
    assert dropped == 1


def test_cut_boxes_with_no_boxes():
    kept, dropped = ptc.cut_boxes(np.zeros((0, 4)), 0, 0, 64, 64, 0.5)
    assert kept.shape == (0, 4) and dropped == 0


def test_clamp_boxes_marks_boxes_outside_the_image():
    clamped, valid = ptc.clamp_boxes(np.array([[-5, 10, 30, 50], [120, 0, 130, 5], [40, 40, 30, 50]]),
                                     100, 60)
    np.testing.assert_array_equal(clamped[0], [0, 10, 30, 50])
    assert valid.tolist() == [True, False, False]  # outside, inverted


def test_choose_val_sources_prefers_the_nearest_whole_images():
    counts = {'big': 90, 'mid': 25, 'small1': 4, 'small2': 4}
    assert ptc.choose_val_sources(counts, 0.2) == ['mid']      # 25 / 123 = 0.203
    assert ptc.choose_val_sources({'only': 10, 'other': 1}, 0.2) is None  # 1/11 or 10/11: too far


# ------------------------------------------------------------------------------------- VOC parsing

def test_read_voc_xml_of_a_handmade_file():
    xml = voc_xml('scene.png', (400, 300), [(10, 20, 30, 45), ('1.5', '2', '7.25', '9')], label='Dead')
    annotation = ptc.read_voc_xml(xml.encode(), 'scene.xml')
    assert annotation.image_name == 'scene.png'
    assert annotation.size == (400, 300)
    np.testing.assert_array_equal(annotation.boxes, [[10, 20, 30, 45], [1.5, 2, 7.25, 9]])
    assert annotation.labels == ('Dead', 'Dead')


def test_read_voc_xml_without_objects():
    annotation = ptc.read_voc_xml(b'<annotation><filename>x.png</filename></annotation>', 'x.xml')
    assert annotation.boxes.shape == (0, 4) and annotation.size is None


@pytest.mark.parametrize('xml, message', [
    ('<annotation><filename>a.png</filename><object>', 'malformed XML'),
    ('<annotation><filename>a.png</filename><object><name>Tree</name></object></annotation>',
     'object 1 has no <bndbox>'),
    (voc_xml('a.png', (10, 10), [(1, 2, 3, 4)]).replace('<xmax>3</xmax>', ''),
     'object 1 <bndbox><xmax> is missing'),
    (voc_xml('a.png', (10, 10), [(1, 2, 3, 4), (1, 'two', 3, 4)]),
     "object 2 <bndbox><ymin> is not a number ('two')"),
    ('<annotation><size/></annotation>', 'no <filename>'),
    ('<notvoc/>', 'expected a Pascal VOC <annotation>'),
])
def test_malformed_xml_errors_name_the_file(xml, message):
    with pytest.raises(ptc.PrepareError) as excinfo:
        ptc.read_voc_xml(xml.encode(), 'deepforest/data/broken.xml')
    assert 'deepforest/data/broken.xml' in str(excinfo.value)
    assert message in str(excinfo.value)


# ----------------------------------------------------------------------------------- bad input, CLI

def test_missing_wheel_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / 'nowhere' / 'deepforest.whl'
    code, _, err = run_main(capsys, '--out', tmp_path / 'out', '--wheel', missing)
    assert code == 2
    assert err.startswith('error: wheel not found: ') and str(missing) in err
    assert 'Traceback' not in err


def test_corrupt_wheel_is_a_clear_error(tmp_path, capsys):
    garbage = tmp_path / 'garbage.whl'
    garbage.write_bytes(b'this is not a zip file at all' * 100)
    code, _, err = run_main(capsys, '--out', tmp_path / 'out', '--wheel', garbage)
    assert code == 2
    assert str(garbage) in err and 'is not a wheel (zip) file' in err


def test_zip_without_deepforest_data_is_rejected(tmp_path, capsys):
    other = tmp_path / 'other.whl'
    with zipfile.ZipFile(other, 'w') as zf:
        zf.writestr('something/else.txt', 'hello')
    code, _, err = run_main(capsys, '--out', tmp_path / 'out', '--wheel', other)
    assert code == 2
    assert str(other) in err and 'has no deepforest/data/ folder' in err


def test_undecodable_image_is_named(tmp_path, capsys):
    files = fake_wheel_files()
    files['b.png'] = b'\x89PNG but broken'
    wheel = make_wheel(tmp_path / 'bad_image.whl', files)
    code, _, err = run_main(capsys, '--out', tmp_path / 'out', '--wheel', wheel, '--tile-size', 64)
    assert code == 2
    assert 'deepforest/data/b.png: cannot decode the image' in err


def test_malformed_xml_in_the_wheel_is_named(tmp_path, capsys):
    files = fake_wheel_files()
    files['c.xml'] = '<annotation><filename>c.png</filename><object>'
    wheel = make_wheel(tmp_path / 'bad_xml.whl', files)
    code, _, err = run_main(capsys, '--out', tmp_path / 'out', '--wheel', wheel, '--tile-size', 64)
    assert code == 2
    assert 'deepforest/data/c.xml: malformed XML' in err


def test_xml_naming_a_missing_image_is_named(tmp_path, capsys):
    files = fake_wheel_files()
    files['c.xml'] = voc_xml('c.tif', (64, 64), [(1, 1, 9, 9)])
    wheel = make_wheel(tmp_path / 'no_image.whl', files)
    code, _, err = run_main(capsys, '--out', tmp_path / 'out', '--wheel', wheel, '--tile-size', 64)
    assert code == 2
    assert "deepforest/data/c.xml refers to image 'c.tif', which is not in the wheel" in err


def test_degenerate_boxes_are_skipped_with_a_warning(tmp_path, capsys):
    files = fake_wheel_files()
    files['d.xml'] = voc_xml('d.png', (50, 40), [(1, 1, 9, 9), (60, 5, 70, 9), (20, 20, 10, 30)])
    wheel = make_wheel(tmp_path / 'degenerate.whl', files)
    code, out, _ = run_main(capsys, '--out', tmp_path / 'out', '--wheel', wheel, '--tile-size', 64)
    assert code == 0
    assert 'd.xml: object 2 box (60, 5, 70, 9) is empty inside the 50x40 px image; skipped' in out
    assert 'd.xml: object 3 box' in out


def test_invalid_options_exit_2(tmp_path):
    with pytest.raises(SystemExit) as excinfo:
        tool.main(['--out', str(tmp_path), '--min-visible', '1.5'])
    assert excinfo.value.code == 2


# ------------------------------------------------------------------------------------- end to end

def test_fake_wheel_end_to_end(tmp_path, capsys, fake_wheel):
    from pycocotools.coco import COCO

    out = tmp_path / 'tc'
    argv = ['--out', out, '--wheel', fake_wheel, '--tile-size', 64, '--labeled-percent', 25, '--seed', 3]
    code, printed, err = run_main(capsys, *argv)
    assert code == 0, err
    assert 'images without an XML file, not used: unannotated.png' in printed
    files = load_annotations(out)
    labeled, unlabeled, hidden, val = (files[name] for name in ROLE_FILES)

    # 18 tiles in all; val = the whole image b (4 tiles = 22 %), nothing of b in train.
    assert len(val['images']) == 4
    assert {img['file_name'].split('_x')[0] for img in val['images']} == {'b'}
    train_names = [img['file_name'] for img in labeled['images'] + unlabeled['images']]
    assert len(train_names) == 14 and not any(name.startswith('b_') for name in train_names)
    assert sorted(name for name in train_names if name.startswith('a_')) == sorted(
        f'a_x{x}_y{y}.png' for x in (0, 64, 128, 136) for y in (0, 64, 96))
    assert len(labeled['images']) == round(14 * 0.25)

    # unlabeled: the same images as the hidden GT, no boxes, full categories.
    assert unlabeled['annotations'] == []
    assert unlabeled['categories'] == [dict(id=1, name='tree', supercategory='tree')]
    assert unlabeled['images'] == hidden['images']
    unlabeled_ids = {img['id'] for img in unlabeled['images']}
    assert {a['image_id'] for a in hidden['annotations']} <= unlabeled_ids

    # image ids unique across files; every tile exists with the size written in the JSON.
    all_images = labeled['images'] + unlabeled['images'] + val['images']
    assert len({img['id'] for img in all_images}) == len(all_images) == 18
    for img in all_images:
        tile = cv2.imread(str(out / 'images' / img['file_name']))
        assert tile.shape[:2] == (img['height'], img['width'])
        assert (img['width'], img['height']) == ((50, 40) if img['file_name'].startswith('d_') else (64, 64))

    # each tile's boxes (labeled, hidden GT, val) are exactly its source boxes cut at 50 % visibility.
    source_boxes = fake_source_boxes()
    for coco in (labeled, hidden, val):
        for img in coco['images']:
            stem, x0, y0 = parse_tile_name(img['file_name'])
            expected, _ = ptc.cut_boxes(np.array(source_boxes[stem], dtype=float), x0, y0,
                                        img['width'], img['height'], 0.5)
            got = [a['bbox'] for a in coco['annotations'] if a['image_id'] == img['id']]
            expected_xywh = [[x1, y1, x2 - x1, y2 - y1] for x1, y1, x2, y2 in expected.tolist()]
            assert got == expected_xywh, img['file_name']
    assert sum(len(f['annotations']) for f in (labeled, hidden, val)) > 0
    assert f"{len(hidden['annotations']) + len(labeled['annotations'])} boxes" in printed  # train stats

    for name in ROLE_FILES:
        coco = COCO(str(out / 'annotations' / name))
        assert len(coco.getImgIds()) == len(files[name]['images'])
    assert 'deepforest==2.1.0' in (out / 'README.md').read_text()


def test_fake_wheel_output_is_deterministic_and_up_to_date(tmp_path, capsys, fake_wheel):
    out = tmp_path / 'tc'
    argv = ['--out', out, '--wheel', fake_wheel, '--tile-size', 64]
    assert run_main(capsys, *argv)[0] == 0
    first = {name: (out / 'annotations' / name).read_bytes() for name in ROLE_FILES}
    readme = (out / 'README.md').read_bytes()

    code, printed, _ = run_main(capsys, *argv)
    assert code == 0 and 'up to date' in printed

    (out / 'images' / 'a_x0_y0_extra.txt').write_text('not ours')  # foreign files are left alone
    assert run_main(capsys, *argv, '--force')[0] == 0
    assert {name: (out / 'annotations' / name).read_bytes() for name in ROLE_FILES} == first
    assert (out / 'README.md').read_bytes() == readme
    assert (out / 'images' / 'a_x0_y0_extra.txt').exists()

    code, printed, _ = run_main(capsys, *argv[:-1], 32)  # other arguments: rebuilt, old tiles gone
    assert code == 0 and 'up to date' not in printed
    assert not (out / 'images' / 'a_x136_y96.png').exists()
    assert (out / 'images' / 'a_x168_y128.png').exists()


def test_a_single_image_is_split_spatially(tmp_path, capsys):
    size = (256, 320)
    wheel = make_wheel(tmp_path / 'one.whl', {
        'solo.png': png_bytes(*size, seed=1),
        'solo.xml': voc_xml('solo.png', size, random_boxes(*size, 40, seed=1)),
    })
    out = tmp_path / 'tc'
    code, printed, err = run_main(capsys, '--out', out, '--wheel', wheel, '--tile-size', 64)
    assert code == 0, err
    assert 'held out the bottom 64 px of solo' in printed
    files = load_annotations(out)
    val_rows = {img['file_name'] for img in files['val.json']['images']}
    assert val_rows == {f'solo_x{x}_y256.png' for x in (0, 64, 128, 192)}  # 4 of 20 tiles
    for img in files['labeled.json']['images'] + files['unlabeled.json']['images']:
        y = int(img['file_name'].rsplit('_y', 1)[1][:-4])
        assert y + img['height'] <= 256  # no train pixel below the cut


def test_too_small_for_a_val_split(tmp_path, capsys):
    wheel = make_wheel(tmp_path / 'tiny.whl', {
        'solo.png': png_bytes(100, 100, seed=1),
        'solo.xml': voc_xml('solo.png', (100, 100), [(1, 1, 20, 20)]),
    })
    code, _, err = run_main(capsys, '--out', tmp_path / 'tc', '--wheel', wheel, '--tile-size', 64)
    assert code == 2 and 'cannot make a validation split' in err and 'solo.png' in err


# ------------------------------------------------------------------------------------- real wheel

def _cache_dir():
    return Path(os.environ.get('SSOD_DATA_CACHE') or Path.home() / '.cache' / 'ssod') / 'deepforest'


def test_real_deepforest_wheel(tmp_path, capsys):
    try:
        wheel = ptc.download_wheel(str(_cache_dir()))
    except ptc.PrepareError as err:
        pytest.skip(f'cannot download the deepforest {ptc.DEEPFOREST_VERSION} wheel (no network?): {err}')
    started = time.perf_counter()
    out = tmp_path / 'tree_crowns'
    code, printed, err = run_main(capsys, '--out', out, '--wheel', wheel)
    assert code == 0, err
    assert time.perf_counter() - started < 60
    files = load_annotations(out)
    labeled, unlabeled, hidden, val = (files[name] for name in ROLE_FILES)

    # 2299x2472 -> 90 tiles, 1249x1035 -> 25, two 400x400 -> 4 each: 123; val = the 1249x1035 image.
    assert {img['file_name'].rsplit('_x', 1)[0] for img in val['images']} == {
        '2019_YELL_2_541000_4977000_image_crop'}
    assert len(val['images']) == 25
    assert len(labeled['images']) + len(unlabeled['images']) == 98
    assert len(labeled['images']) == round(98 * 0.2)
    assert len(val['annotations']) > 279 * 0.9 and len(hidden['annotations']) > 0
    assert 'Alive 9, Dead 28, Tree 914' in printed
    assert 'OSBS_029.tif' in printed
