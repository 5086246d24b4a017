"""Build the tree-crown demo data set (COCO, semi-supervised splits) from the deepforest 2.1.0 wheel.

Source
    The ``deepforest==2.1.0`` wheel on PyPI (MIT licence) ships, under ``deepforest/data/``, a few NEON
    aerial RGB images (10 cm per pixel) of tree crowns with Pascal VOC XML box files. Each XML names
    its image in ``<filename>`` (``OSBS_029.xml`` names ``OSBS_029.tif``, although a ``.png`` of the same
    pixels also exists); that named file is used. Images without an XML file (and the CSV annotation
    files) are ignored. Every object becomes the single class ``tree``: most are labelled ``Tree``,
    ``SOAP_061.xml`` labels them ``Dead`` / ``Alive``, which are tree crowns too. The source boxes are
    not exhaustive (some small or shaded crowns have none), so even the "full" labels miss a few trees.

    The wheel is read as a zip file; images and XML are decoded from memory, nothing is extracted.
    Without ``--wheel`` the tool runs ``python -m pip download --no-deps deepforest==2.1.0`` into
    ``<out>/download`` (skipped when the wheel is already there). deepforest itself is never installed.

Tiles
    Every image is cut into square tiles of ``--tile-size`` pixels (default 256: a handful of crowns per
    tile and small enough for a CPU detector). Tiles are laid side by side; the last tile of a row or
    column is shifted inward so that it ends at the image border and every tile is full size (it then
    overlaps its neighbour). An image smaller than the tile size along an axis is kept whole along that
    axis. Tiles with no boxes are kept (their count is reported).

    A box cut by a tile border is clipped to the tile and kept when at least ``--min-visible`` (default
    50 %) of its area stays inside the tile, else dropped. A dropped box leaves part of a crown visible
    without a label at the tile border, i.e. a "missing label" that teaches the detector to ignore that
    crown; a kept clipped box labels a fragment of a crown. 50 % is the middle ground; the number of
    dropped partial boxes is reported per split.

Splits
    ``val`` is chosen at the level of source images, so that no two tiles of one image end up on both
    sides: the subset of whole images whose tile count is nearest ``--val-fraction`` of all tiles is held
    out (for the real wheel: the 1249 x 1035 px YELL image, 25 of 123 tiles). When no subset is near
    enough (e.g. a single image) the bottom rows of tiles of the largest image are held out instead; the
    two parts are tiled separately, so val tiles share no pixel with train tiles. The train tiles are
    then split into labeled / unlabeled (+ hidden ground truth) by
    :func:`ssod.data.coco_files.write_semi_split` with ``--labeled-percent`` and ``--seed``.

Outputs (under ``--out``)
    ``images/<source-stem>_x<X>_y<Y>.png`` tiles (X, Y: top-left corner in the source image, pixels),
    ``annotations/{labeled,unlabeled,unlabeled-hidden-gt,val}.json``, ``README.md`` and the stamp
    ``.prepare_args.json``. The same wheel and arguments give byte-identical JSON files. When the stamp
    matches the arguments and all outputs exist, the tool prints "up to date" and exits; ``--force``
    rebuilds.

Usage
    python tools/data/prepare_tree_crowns.py --out data/tree_crowns [--wheel PATH] [--tile-size 256]
        [--labeled-percent 20] [--seed 0] [--val-fraction 0.2] [--min-visible 0.5] [--force]

Errors in the input (missing or corrupt wheel, undecodable image, malformed XML, XML naming an image
that is not in the wheel) raise :class:`PrepareError`; the tool prints ``error: ...`` and returns 2.
"""
import argparse
import contextlib
import hashlib
import itertools
import json
import os
import os.path as osp
import posixpath
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .coco_files import box_annotation, coco_dict, make_categories, summary, write_json, write_semi_split

DEEPFOREST_VERSION = '2.1.0'
WHEEL_NAME = f'deepforest-{DEEPFOREST_VERSION}-py3-none-any.whl'
DATA_PREFIX = 'deepforest/data/'
CLASS_NAME = 'tree'
STAMP_NAME = '.prepare_args.json'
STAMP_FORMAT = 1  # bump when the output format changes, so old outputs are rebuilt
MAX_EXHAUSTIVE_SOURCES = 16  # up to this many source images, every subset is tried as val
VAL_SHARE_TOLERANCE = 0.5  # accept an image-level val share within +-50 % of --val-fraction
COORD_DECIMALS = 2  # box coordinates are rounded to 1/100 pixel


class PrepareError(Exception):
    """A problem with the input that the user can fix; the message names the file and what to do."""


# ----------------------------------------------------------------------------------------- geometry

def tile_positions(length: int, tile: int) -> List[int]:
    """Start offsets (pixels) of the tiles covering ``[0, length)`` along one axis.

    Tiles of ``tile`` pixels follow each other without overlap; the last one is shifted inward to end at
    ``length`` so every tile is full size. A ``length`` up to ``tile`` gives one tile, ``[0]``, which is
    then only ``length`` pixels long (the image is kept whole along that axis).
    """
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, tile))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def tile_count(width: int, height: int, tile: int) -> int:
    """Number of tiles :func:`tile_positions` makes for a ``width`` x ``height`` pixel image."""
    return len(tile_positions(width, tile)) * len(tile_positions(height, tile))


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """Areas (square pixels) of ``(N, 4)`` corner boxes ``x1, y1, x2, y2``; 0 for empty boxes."""
    widths = np.clip(boxes[:, 2] - boxes[:, 0], 0, None)
    heights = np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    return widths * heights


def cut_boxes(boxes: np.ndarray, x0: int, y0: int, tile_width: int, tile_height: int,
              min_visible: float) -> Tuple[np.ndarray, int]:
    """Boxes of the tile with top-left corner ``(x0, y0)`` and size ``tile_width`` x ``tile_height``.

    ``boxes`` are ``(N, 4)`` corners ``x1, y1, x2, y2`` in image pixels, each of positive area. A box is
    clipped to the tile and kept when the clipped area is at least ``min_visible`` of its own area.
    Returns the kept boxes in tile pixels (``(M, 4)``, rounded to 1/100 pixel) and the number of boxes
    that overlap the tile but were dropped for showing too little of themselves.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    shifted = boxes - np.array([x0, y0, x0, y0], dtype=np.float64)
    clipped = np.stack([np.clip(shifted[:, 0], 0, tile_width), np.clip(shifted[:, 1], 0, tile_height),
                        np.clip(shifted[:, 2], 0, tile_width), np.clip(shifted[:, 3], 0, tile_height)],
                       axis=1)
    visible_area = box_areas(clipped)
    own_area = box_areas(boxes)
    overlaps = visible_area > 0
    keep = overlaps & (visible_area >= min_visible * own_area)
    kept = np.round(clipped[keep], COORD_DECIMALS)
    return kept, int(np.count_nonzero(overlaps & ~keep))


def clamp_boxes(boxes: np.ndarray, width: int, height: int) -> Tuple[np.ndarray, np.ndarray]:
    """Clamp corner boxes to a ``width`` x ``height`` pixel image; return them and a mask of the
    boxes that still have positive area (the others lie outside the image or are inverted)."""
    limits = np.array([width, height, width, height], dtype=np.float64)
    clamped = np.clip(np.asarray(boxes, dtype=np.float64).reshape(-1, 4), 0, limits)
    return clamped, box_areas(clamped) > 0


# ------------------------------------------------------------------------------------ reading input

@dataclass(frozen=True)
class VocAnnotation:
    """The content of one Pascal VOC XML file.

    ``boxes``: ``(N, 4)`` corners ``xmin, ymin, xmax, ymax`` in pixels as written (not clamped);
    ``size``: ``(width, height)`` declared in ``<size>``, or None when absent.
    """
    image_name: str
    size: Optional[Tuple[int, int]]
    boxes: np.ndarray
    labels: Tuple[str, ...]


def _number(text: Optional[str], what: str, name: str) -> float:
    """``text`` as a finite float, or a :class:`PrepareError` naming the file ``name`` and ``what``."""
    if text is None:
        raise PrepareError(f'{name}: {what} is missing; fix or remove this XML file')
    try:
        value = float(text.strip())
    except ValueError:
        raise PrepareError(f'{name}: {what} is not a number ({text.strip()!r}); fix this XML file') from None
    if not np.isfinite(value):
        raise PrepareError(f'{name}: {what} is not finite ({text.strip()!r}); fix this XML file')
    return value


def _declared_size(root: ET.Element, name: str) -> Optional[Tuple[int, int]]:
    size = root.find('size')
    if size is None:
        return None
    return (int(_number(size.findtext('width'), '<size><width>', name)),
            int(_number(size.findtext('height'), '<size><height>', name)))


def read_voc_xml(data: bytes, name: str) -> VocAnnotation:
    """Parse a Pascal VOC XML file (``data``: its bytes, ``name``: how to call it in messages)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        raise PrepareError(f'{name}: malformed XML ({err}); fix the file or download the wheel '
                           f'again') from None
    if root.tag != 'annotation':
        raise PrepareError(f'{name}: root element is <{root.tag}>, expected a Pascal VOC <annotation>')
    image_name = (root.findtext('filename') or '').strip()
    if not image_name:
        raise PrepareError(f'{name}: no <filename> naming the image; add it to the XML file')
    boxes, labels = [], []
    for index, obj in enumerate(root.findall('object')):
        where = f'object {index + 1}'
        bndbox = obj.find('bndbox')
        if bndbox is None:
            raise PrepareError(f'{name}: {where} has no <bndbox>; fix or remove this XML file')
        boxes.append([_number(bndbox.findtext(key), f'{where} <bndbox><{key}>', name)
                      for key in ('xmin', 'ymin', 'xmax', 'ymax')])
        labels.append((obj.findtext('name') or '').strip())
    return VocAnnotation(image_name=image_name, size=_declared_size(root, name),
                         boxes=np.array(boxes, dtype=np.float64).reshape(-1, 4), labels=tuple(labels))


@contextlib.contextmanager
def _quiet_opencv():
    """Silence OpenCV warnings (GeoTIFF tags it does not know) while decoding."""
    logging = getattr(getattr(cv2, 'utils', None), 'logging', None)
    if logging is None:
        yield
        return
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(previous)


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode PNG / TIFF / JPEG bytes into an ``H x W x 3`` uint8 BGR array."""
    with _quiet_opencv():
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise PrepareError(f'{name}: cannot decode the image; the wheel may be damaged, download it again')
    return image


def open_wheel(path: str) -> zipfile.ZipFile:
    """Open the deepforest wheel as a zip file and check that it holds ``deepforest/data/``."""
    if not osp.isfile(path):
        raise PrepareError(f'wheel not found: {path}; pass --wheel with the path of {WHEEL_NAME}, '
                           f'or leave --wheel out to download it from PyPI')
    try:
        wheel = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise PrepareError(f'{path} is not a wheel (zip) file ({err}); delete it and download '
                           f'{WHEEL_NAME} again') from None
    if not any(member.startswith(DATA_PREFIX) for member in wheel.namelist()):
        wheel.close()
        raise PrepareError(f'{path} has no {DATA_PREFIX} folder; is it the deepforest '
                           f'{DEEPFOREST_VERSION} wheel ({WHEEL_NAME})?')
    return wheel


def read_member(wheel: zipfile.ZipFile, member: str) -> bytes:
    """The bytes of ``member``; a damaged entry becomes a :class:`PrepareError`."""
    try:
        return wheel.read(member)
    except (zipfile.BadZipFile, zlib.error, OSError) as err:
        raise PrepareError(f'{wheel.filename}: cannot read {member} ({err}); the wheel is damaged, '
                           f'delete it and download it again') from None


def data_members(wheel: zipfile.ZipFile) -> List[str]:
    """Sorted names of the files directly inside ``deepforest/data/``."""
    return sorted(member for member in wheel.namelist()
                  if member.startswith(DATA_PREFIX) and '/' not in member[len(DATA_PREFIX):]
                  and member != DATA_PREFIX)


# ------------------------------------------------------------------------------------ source images

@dataclass
class SourceImage:
    """One annotated image from the wheel; ``boxes``: ``(N, 4)`` corners in pixels, clamped to it."""
    stem: str
    member: str
    pixels: np.ndarray
    boxes: np.ndarray
    labels: Tuple[str, ...]
    skipped_boxes: int

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def safe_stem(member: str) -> str:
    """The file stem of ``member`` with characters other than letters, digits, ``.-_`` made ``_``."""
    stem = posixpath.splitext(posixpath.basename(member))[0]
    return re.sub(r'[^A-Za-z0-9._-]', '_', stem)


def resolve_image_member(image_name: str, xml_member: str, members: Sequence[str]) -> str:
    """The wheel member of the image an XML file names (its ``<filename>``, looked up in the data folder)."""
    member = DATA_PREFIX + posixpath.basename(image_name.replace('\\', '/'))
    if member not in members:
        raise PrepareError(f'{xml_member} refers to image {image_name!r}, which is not in the wheel '
                           f'(looked for {member}); fix <filename> or use the original deepforest '
                           f'{DEEPFOREST_VERSION} wheel')
    return member


def usable_boxes(annotation: VocAnnotation, image: np.ndarray, xml_member: str,
                 log) -> Tuple[np.ndarray, Tuple[str, ...], int]:
    """Boxes clamped to the image, without the ones left empty (each skip is logged)."""
    height, width = image.shape[:2]
    if annotation.size is not None and annotation.size != (width, height):
        log(f'warning: {xml_member} declares size {annotation.size[0]}x{annotation.size[1]} px but the '
            f'image is {width}x{height} px; boxes are clamped to the image')
    clamped, valid = clamp_boxes(np.round(annotation.boxes, COORD_DECIMALS), width, height)
    for index in np.flatnonzero(~valid):
        box = ', '.join(f'{v:g}' for v in annotation.boxes[index])
        log(f'warning: {xml_member}: object {index + 1} box ({box}) is empty inside the {width}x{height} '
            f'px image; skipped')
    labels = tuple(label for label, ok in zip(annotation.labels, valid) if ok)
    return clamped[valid], labels, int(np.count_nonzero(~valid))


def load_sources(wheel: zipfile.ZipFile, log) -> List[SourceImage]:
    """Every image of the wheel that an XML file annotates, sorted by stem."""
    members = data_members(wheel)
    xml_members = [m for m in members if m.lower().endswith('.xml')]
    if not xml_members:
        raise PrepareError(f'{wheel.filename} has no XML annotation files in {DATA_PREFIX}; is it the '
                           f'deepforest {DEEPFOREST_VERSION} wheel?')
    sources, used = [], {}
    for xml_member in xml_members:
        annotation = read_voc_xml(read_member(wheel, xml_member), xml_member)
        image_member = resolve_image_member(annotation.image_name, xml_member, members)
        stem = safe_stem(image_member)
        if stem in used:
            raise PrepareError(f'{xml_member} and {used[stem]} both annotate an image named {stem}.*; '
                               f'remove one of them')
        used[stem] = xml_member
        pixels = decode_image(read_member(wheel, image_member), image_member)
        boxes, labels, skipped = usable_boxes(annotation, pixels, xml_member, log)
        sources.append(SourceImage(stem, image_member, pixels, boxes, labels, skipped))
    annotated = {s.member for s in sources} | set(xml_members)
    ignored = [posixpath.basename(m) for m in members
               if m not in annotated and m.lower().endswith(('.png', '.tif', '.tiff', '.jpg', '.jpeg'))]
    if ignored:
        log(f'images without an XML file, not used: {", ".join(ignored)}')
    return sorted(sources, key=lambda s: s.stem)


# ------------------------------------------------------------------------------------------ splits

@dataclass(frozen=True, eq=False)  # compared by identity: it holds an image
class Region:
    """A rectangle (pixels) of a source image, tiled on its own and assigned to one split."""
    source: SourceImage
    x: int
    y: int
    width: int
    height: int
    split: str  # 'train' or 'val'


def choose_val_sources(tile_counts: Dict[str, int], val_fraction: float) -> Optional[List[str]]:
    """Names of whole source images to hold out for val, or None when no choice is close enough.

    ``tile_counts`` maps each source image to its number of tiles. The chosen images hold the tile
    count nearest ``val_fraction`` of all tiles (ties: fewer images, then names in sorted order); at
    least one image and two train tiles stay on the train side. "Close enough": the val share is within
    ``VAL_SHARE_TOLERANCE`` (relative) of ``val_fraction``.
    """
    names = sorted(tile_counts)
    total = sum(tile_counts.values())
    target = val_fraction * total
    best = None
    for chosen in _candidate_val_subsets(names, tile_counts, target):
        count = sum(tile_counts[n] for n in chosen)
        if count < 1 or total - count < 2:
            continue
        key = (abs(count - target), len(chosen), chosen)
        if best is None or key < best:
            best = key
    if best is None:
        return None
    share = sum(tile_counts[n] for n in best[2]) / total
    if abs(share - val_fraction) > VAL_SHARE_TOLERANCE * val_fraction:
        return None
    return list(best[2])


def _candidate_val_subsets(names: List[str], tile_counts: Dict[str, int], target: float):
    """All proper non-empty subsets (few images), else one greedy pick (largest images first)."""
    if len(names) <= MAX_EXHAUSTIVE_SOURCES:
        for size in range(1, len(names)):
            yield from itertools.combinations(names, size)
        return
    chosen, count = [], 0
    for name in sorted(names, key=lambda n: (-tile_counts[n], n)):
        if abs(count + tile_counts[name] - target) < abs(count - target):
            chosen.append(name)
            count += tile_counts[name]
    yield tuple(sorted(chosen))


def bottom_band_rows(source: SourceImage, tile: int, target_val_tiles: float) -> Optional[int]:
    """How many tile rows at the bottom of ``source`` to hold out for val (None if it is too short).

    At least one row of full tiles must stay above the band for train."""
    max_rows = source.height // tile - 1
    if max_rows < 1:
        return None
    columns = len(tile_positions(source.width, tile))
    return int(min(max(round(target_val_tiles / columns), 1), max_rows))


def plan_regions(sources: List[SourceImage], tile: int, val_fraction: float) -> Tuple[List[Region], str]:
    """Assign the sources (or parts of them) to train / val; return the regions and how val was made."""
    counts = {s.stem: tile_count(s.width, s.height, tile) for s in sources}
    val_stems = choose_val_sources(counts, val_fraction) if len(sources) > 1 else None
    if val_stems is not None:
        regions = [Region(s, 0, 0, s.width, s.height, 'val' if s.stem in val_stems else 'train')
                   for s in sources]
        return regions, f'held out whole source images: {", ".join(val_stems)}'
    largest = max(sources, key=lambda s: (counts[s.stem], s.stem))
    rows = bottom_band_rows(largest, tile, val_fraction * sum(counts.values()))
    if rows is None:
        raise PrepareError(f'cannot make a validation split: the images are too few and too small for '
                           f'{tile} px tiles (the largest, {largest.member}, is {largest.width}x'
                           f'{largest.height} px); use a smaller --tile-size')
    cut = largest.height - rows * tile
    regions = []
    for s in sources:
        if s is largest:
            regions.append(Region(s, 0, 0, s.width, cut, 'train'))
            regions.append(Region(s, 0, cut, s.width, s.height - cut, 'val'))
        else:
            regions.append(Region(s, 0, 0, s.width, s.height, 'train'))
    return regions, f'held out the bottom {largest.height - cut} px of {largest.stem}'


# ------------------------------------------------------------------------------------------- tiling

@dataclass
class SplitStats:
    """Counts reported per split."""
    tiles: int = 0
    empty_tiles: int = 0
    boxes: int = 0
    dropped_partial_boxes: int = 0


def tile_file_name(stem: str, x0: int, y0: int) -> str:
    """File name of the tile whose top-left corner is ``(x0, y0)`` pixels in source image ``stem``."""
    return f'{stem}_x{x0}_y{y0}.png'


def region_tiles(region: Region, tile: int) -> List[Tuple[int, int, int, int]]:
    """``(x0, y0, width, height)`` in source pixels of the region's tiles, row by row."""
    width, height = min(tile, region.width), min(tile, region.height)
    return [(region.x + dx, region.y + dy, width, height)
            for dy in tile_positions(region.height, tile) for dx in tile_positions(region.width, tile)]


def tile_annotations(image_id: int, category_id: int, boxes: np.ndarray) -> List[dict]:
    """COCO annotations for tile-pixel corner boxes, with coordinates and area rounded."""
    annotations = []
    for x1, y1, x2, y2 in boxes.tolist():
        ann = box_annotation(image_id, category_id, x1, y1, x2, y2)
        ann['bbox'] = [round(v, COORD_DECIMALS) for v in ann['bbox']]
        ann['area'] = round(ann['bbox'][2] * ann['bbox'][3], 2 * COORD_DECIMALS)
        annotations.append(ann)
    return annotations


def write_tiles(regions: List[Region], tile: int, min_visible: float, image_dir: str, log
                ) -> Tuple[Dict[str, Tuple[list, list]], Dict[str, SplitStats]]:
    """Cut, write and annotate every tile; return COCO (images, annotations) and stats per split."""
    os.makedirs(image_dir, exist_ok=True)
    parts = {'train': ([], []), 'val': ([], [])}
    stats = {'train': SplitStats(), 'val': SplitStats()}
    next_id = 1
    for number, region in enumerate(regions, start=1):
        source, split = region.source, region.split
        images, annotations = parts[split]
        region_stats = SplitStats()
        for x0, y0, width, height in region_tiles(region, tile):
            boxes, dropped = cut_boxes(source.boxes, x0, y0, width, height, min_visible)
            name = tile_file_name(source.stem, x0, y0)
            if not cv2.imwrite(osp.join(image_dir, name), source.pixels[y0:y0 + height, x0:x0 + width]):
                raise PrepareError(f'cannot write {osp.join(image_dir, name)}; check the --out folder')
            images.append(dict(id=next_id, file_name=name, width=width, height=height))
            annotations.extend(tile_annotations(next_id, 1, boxes))
            next_id += 1
            _count(region_stats, len(boxes), dropped)
        _add(stats[split], region_stats)
        log(f'[{number}/{len(regions)}] {posixpath.basename(source.member)} '
            f'({region.width}x{region.height} px at x={region.x} y={region.y}, {len(source.boxes)} boxes '
            f'in the image) -> {region_stats.tiles} tiles for {split}, {region_stats.boxes} boxes, '
            f'{region_stats.empty_tiles} empty tiles, {region_stats.dropped_partial_boxes} border-cut '
            f'boxes dropped')
    return parts, stats


def _count(stats: SplitStats, boxes: int, dropped: int) -> None:
    stats.tiles += 1
    stats.empty_tiles += int(boxes == 0)
    stats.boxes += boxes
    stats.dropped_partial_boxes += dropped


def _add(total: SplitStats, part: SplitStats) -> None:
    for field in ('tiles', 'empty_tiles', 'boxes', 'dropped_partial_boxes'):
        setattr(total, field, getattr(total, field) + getattr(part, field))


def remove_old_tiles(image_dir: str, stems: Sequence[str]) -> None:
    """Delete tiles an earlier run wrote for these source stems (other files are left alone)."""
    if not osp.isdir(image_dir):
        return
    pattern = re.compile(r'^(?P<stem>.+)_x\d+_y\d+\.png$')
    wanted = set(stems)
    for name in sorted(os.listdir(image_dir)):
        match = pattern.match(name)
        if match and match.group('stem') in wanted:
            os.remove(osp.join(image_dir, name))


# ------------------------------------------------------------------------------- download and stamp

def default_wheel_dir(out: str) -> str:
    return osp.join(out, 'download')


def download_wheel(dest_dir: str) -> str:
    """Path of the deepforest wheel in ``dest_dir``, fetched with ``pip download`` if not there yet."""
    path = osp.join(dest_dir, WHEEL_NAME)
    if osp.isfile(path):
        return path
    os.makedirs(dest_dir, exist_ok=True)
    command = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--only-binary', ':all:',
               f'deepforest=={DEEPFOREST_VERSION}', '-d', dest_dir]
    print('downloading: ' + ' '.join(command), flush=True)
    try:
        returncode = subprocess.run(command).returncode
    except OSError as err:
        returncode = f'not run: {err}'
    if returncode != 0 or not osp.isfile(path):
        raise PrepareError(f'could not download {WHEEL_NAME} into {dest_dir} (pip exit status '
                           f'{returncode}); check the network, or download it by hand '
                           f'(pip download --no-deps deepforest=={DEEPFOREST_VERSION}) and pass --wheel PATH')
    return path


def stamp_for(args: argparse.Namespace) -> dict:
    """What the outputs depend on: the wheel argument and every option."""
    return dict(format=STAMP_FORMAT, deepforest=DEEPFOREST_VERSION,
                wheel=osp.abspath(args.wheel) if args.wheel else 'pypi', tile_size=args.tile_size,
                labeled_percent=args.labeled_percent, seed=args.seed, val_fraction=args.val_fraction,
                min_visible=args.min_visible)


def annotation_paths(out: str) -> Dict[str, str]:
    names = {'labeled': 'labeled.json', 'unlabeled': 'unlabeled.json',
             'hidden_gt': 'unlabeled-hidden-gt.json', 'val': 'val.json'}
    return {role: osp.join(out, 'annotations', name) for role, name in names.items()}


def is_up_to_date(out: str, stamp: dict) -> bool:
    """True when the stamp matches and every output file, tiles included, exists."""
    stamp_path = osp.join(out, STAMP_NAME)
    try:
        with open(stamp_path) as f:
            if json.load(f) != stamp:
                return False
        for path in annotation_paths(out).values():
            with open(path) as f:
                for image in json.load(f)['images']:
                    if not osp.isfile(osp.join(out, 'images', image['file_name'])):
                        return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return osp.isfile(osp.join(out, 'README.md'))


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------- reports

def label_report(sources: List[SourceImage]) -> str:
    """``Alive 9, Dead 28, Tree 914``: the XML labels that were all mapped to ``tree``."""
    counts: Dict[str, int] = {}
    for source in sources:
        for label in source.labels:
            counts[label or '(none)'] = counts.get(label or '(none)', 0) + 1
    return ', '.join(f'{label} {counts[label]}' for label in sorted(counts))


def stats_report(stats: Dict[str, SplitStats]) -> str:
    """Per split: tiles, empty tiles, boxes, and boxes dropped from a tile for showing less than
    --min-visible of their area (most of these are kept whole by the neighbouring tile)."""
    return '\n'.join(f'  {split:<6} {s.tiles:5d} tiles ({s.empty_tiles} without boxes), {s.boxes} boxes, '
                     f'{s.dropped_partial_boxes} border-cut boxes dropped (< min visible)'
                     for split, s in stats.items())


def regenerate_command(args: argparse.Namespace) -> str:
    command = (f'python tools/data/prepare_tree_crowns.py --out {args.out} --tile-size {args.tile_size} '
               f'--labeled-percent {args.labeled_percent:g} --seed {args.seed} '
               f'--val-fraction {args.val_fraction:g} --min-visible {args.min_visible:g}')
    return command + (f' --wheel {args.wheel}' if args.wheel else '') + ' --force'


def readme_text(args: argparse.Namespace, wheel_sha256: str, sources: List[SourceImage], split_how: str,
                files: Dict[str, dict], stats: Dict[str, SplitStats]) -> str:
    """The ``README.md`` written next to the data (no timestamps: same inputs, same text)."""
    source_lines = '\n'.join(f'- `{posixpath.basename(s.member)}`: {s.width}x{s.height} px, '
                             f'{len(s.boxes)} boxes' + (f' ({s.skipped_boxes} empty boxes skipped)'
                                                        if s.skipped_boxes else '')
                             for s in sources)
    return f"""# Tree crowns (semi-supervised detection demo data)

Made by `tools/data/prepare_tree_crowns.py`. Do not edit by hand; regenerate instead.

## Source

The images and boxes come from the `deepforest=={DEEPFOREST_VERSION}` wheel on PyPI
(`{WHEEL_NAME}`, sha256 `{wheel_sha256}`), package licence MIT. They are NEON (National Ecological
Observatory Network) airborne RGB images of tree crowns, about 10 cm per pixel, with Pascal VOC boxes
drawn by the DeepForest authors. Annotated images used:

{source_lines}

All XML labels ({label_report(sources)}) are mapped to the single class `{CLASS_NAME}`.
The source boxes are not exhaustive: some crowns, mostly small or shaded ones, have no box.

## Tiles and splits

- Tiles of {args.tile_size} x {args.tile_size} px (the last tile of a row/column is shifted inward
  so that all are full size; images smaller than a tile are kept whole): `images/<source>_x<X>_y<Y>.png`,
  X, Y = top-left corner in the source image (px).
- A box cut by a tile border is clipped and kept if at least {args.min_visible:g} of its area is
  visible, else dropped (a crown fragment without a label).
- Validation: {split_how} (no source pixels are shared between train and val).
- Train tiles split with `--labeled-percent {args.labeled_percent:g} --seed {args.seed}`.

```
{summary(files)}
{stats_report(stats)}
```

`unlabeled.json` has no boxes; `unlabeled-hidden-gt.json` holds the boxes of the same images and is
only used to measure pseudo-label quality.

## Regenerate

```
{regenerate_command(args)}
```
"""


# ------------------------------------------------------------------------------------------- build

def prepare(args: argparse.Namespace, log=print) -> Dict[str, dict]:
    """Build all outputs under ``args.out``; return the four COCO dicts by role."""
    out = args.out
    wheel_path = args.wheel or download_wheel(default_wheel_dir(out))
    with open_wheel(wheel_path) as wheel:
        log(f'reading {wheel_path}')
        sources = load_sources(wheel, log)
    stamp_path = osp.join(out, STAMP_NAME)
    if osp.exists(stamp_path):
        os.remove(stamp_path)  # an interrupted rebuild must not look up to date
    log(f'{len(sources)} annotated images, labels: {label_report(sources)} -> class {CLASS_NAME!r}')
    regions, split_how = plan_regions(sources, args.tile_size, args.val_fraction)
    log(f'validation: {split_how}')
    image_dir = osp.join(out, 'images')
    remove_old_tiles(image_dir, [s.stem for s in sources])
    parts, stats = write_tiles(regions, args.tile_size, args.min_visible, image_dir, log)
    categories = make_categories([CLASS_NAME])
    description = f'NEON tree crowns from deepforest {DEEPFOREST_VERSION}, {args.tile_size} px tiles'
    train = coco_dict(*parts['train'], categories, description + ', train')
    val = coco_dict(*parts['val'], categories, description + ', val')
    try:
        files = write_semi_split(osp.join(out, 'annotations'), train, val, args.labeled_percent, args.seed)
    except ValueError as err:
        raise PrepareError(f'cannot split the {len(train["images"])} train tiles: {err}; use a smaller '
                           f'--tile-size or another --val-fraction') from None
    with open(osp.join(out, 'README.md'), 'w') as f:
        f.write(readme_text(args, sha256_of(wheel_path), sources, split_how, files, stats))
    write_json(stamp_path, stamp_for(args))
    log(stats_report(stats))
    return files
