"""Generate a deterministic synthetic detection data set (no network, no downloads).

What: square colour images of simple shapes on a cluttered background, with COCO box annotations split
for semi-supervised training (``labeled`` / ``unlabeled`` / ``unlabeled-hidden-gt`` / ``val``)::

    python tools/data/make_synthetic.py --out data/synthetic --num-images 1000 --image-size 256 \\
        --num-classes 3 --labeled-percent 10 --val-images 100 --seed 0 [--workers N] [--force]

Why: tests, smoke runs and quick experiments of the semi-supervised detector need a data set that is
small, fast to make (1,000 images of 256 px in ~4 s on 2 cores), identical on every machine, and still
not trivial: objects vary in scale, aspect, rotation, colour and texture, overlap each other, and sit
on a background with clutter (lines, scribbles, soft blobs, noise gradients) that must not be
detected. Clutter is drawn on the background only, before any object.

Content of one image (all sizes in pixels):

* class ``i`` is shape kind ``SHAPE_KINDS[i]`` (ellipse, rectangle, triangle, star, ring, diamond), so
  ``--num-classes`` is 1 to 6. Rectangles and diamonds are rotated by at most 15 degrees so that the two
  stay distinguishable; the other kinds take any rotation.
* 1 to ``MAX_OBJECTS`` (8) objects; the longer side of a shape before rotation is log-uniform in
  [12 px, 40 % of the image side]; aspect ratio up to 2:1 (1.25:1 for stars); every shape lies fully
  inside the image.
* each object is filled with one texture (solid, stripes, noise, checker) whose colours differ by at
  least 80 grey levels (in some channel) from the mean background colour under it and from the mean
  of whatever is already painted there (where such a colour exists), so that it stays visible.
* objects are painted one after the other, so later ones occlude earlier ones.

Box convention (occlusion): an object is annotated when at least ``MIN_VISIBLE_FRACTION`` (30 %) of
its own pixels stay visible in the final image (and its visible part is at least ``MIN_BOX_SIDE`` px
wide and high); its box is the tight box of its **visible** pixels, as in COCO, whose boxes enclose the
visible segmentation. A more heavily covered object stays in the image without a box (about 2 % of
the objects), as in real data where annotators skip barely visible objects. Boxes use
pixel-edge coordinates: pixel column ``c`` spans ``[c, c + 1)``, so a box covering columns 10..19 has
``x1 = 10, x2 = 20`` (COCO ``[x, y, w, h]`` = ``[10, y1, 10, h]``).

Determinism: image ``k`` is drawn from its own random generator seeded with ``(seed, k)``, so the
output is byte-identical for any ``--workers`` (the split into labeled / unlabeled also depends only
on ``--seed``). Training images are indices ``0 .. num_images - 1``, validation images the next
``val_images`` indices (same distribution, different draws). COCO image ids are ``index + 1``.

Images are written as JPEG of quality 95 without chroma subsampling (4:4:4): for these noisy
textures about 2.5x smaller than PNG (~47 KB vs ~117 KB at 256 px) and faster to encode here and to
decode in the training data loader. The error is small next to the object / background contrast
(>= 80 levels in one channel): ~2.6 grey levels on average, 99 % of pixels within ~12. (The default
4:2:0 subsampling would halve the size again but smear the colour edges of small saturated shapes by
up to ~60 levels.)

Output::

    <out>/images/000000.jpg ...
    <out>/annotations/{labeled,unlabeled,unlabeled-hidden-gt,val}.json
    <out>/.make_synthetic_args.json     stamp: the arguments of the last complete run

A second run with the same arguments finds the stamp and all files and says "up to date";
``--force`` regenerates.
"""
import argparse
import functools
import json
import math
import os
import os.path as osp
import re
from dataclasses import dataclass
from multiprocessing import Pool
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .coco_files import box_annotation, coco_dict, make_categories, write_semi_split

SHAPE_KINDS = ('ellipse', 'rectangle', 'triangle', 'star', 'ring', 'diamond')
TEXTURES = ('solid', 'stripes', 'noise', 'checker')
MIN_OBJECT_SIZE = 12  # px, longer side of a shape before rotation
MAX_OBJECT_FRACTION = 0.4  # of the image side
MAX_OBJECTS = 8
MIN_VISIBLE_FRACTION = 0.3
MIN_BOX_SIDE = 3  # px, of the visible part
MIN_COLOUR_CONTRAST = 80  # grey levels, in the channel that differs most from what lies under
MAX_ROTATION_BOXY_DEG = 15  # rectangles and diamonds
JPEG_QUALITY = 95
STAMP_NAME = '.make_synthetic_args.json'
GENERATOR_VERSION = 1  # bump when the rendering changes, so that old stamps are stale
IMAGE_NAME_PATTERN = re.compile(r'^(\d{6,})\.jpg$')

Box = Tuple[int, int, int, int]


@dataclass
class RenderedObject:
    """One painted shape; ``box`` is the tight box of its visible pixels (None when none is visible)."""
    class_id: int
    box: Optional[Box]
    visible_fraction: float

    @property
    def annotated(self) -> bool:
        """Whether the object gets a box (enough of it is visible, see the module docstring)."""
        if self.box is None or self.visible_fraction < MIN_VISIBLE_FRACTION:
            return False
        x1, y1, x2, y2 = self.box
        return x2 - x1 >= MIN_BOX_SIDE and y2 - y1 >= MIN_BOX_SIDE


@dataclass
class Scene:
    """A rendered image with what tests need to check it.

    ``background`` is the image before any object was painted; ``owner`` holds, per pixel, the index
    (into ``objects``) of the object visible there, or -1 for background.
    """
    image: np.ndarray
    background: np.ndarray
    owner: np.ndarray
    objects: List[RenderedObject]

    def annotations(self) -> List[Tuple[int, int, int, int, int]]:
        """``(class_id, x1, y1, x2, y2)`` of the annotated objects, in painting order."""
        return [(obj.class_id, *obj.box) for obj in self.objects if obj.annotated]


# ----------------------------------------------------------------------------------------- random

def image_rng(seed: int, index: int) -> np.random.Generator:
    """The random generator of image ``index``: depends only on ``(seed, index)``."""
    return np.random.default_rng([int(seed), int(index)])


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A number whose logarithm is uniform in ``[log(low), log(high)]``."""
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """A uniform random 3-channel colour (float32)."""
    return rng.integers(0, 256, size=3).astype(np.float32)


def farthest_value(references: np.ndarray) -> Tuple[float, float]:
    """The channel value in [0, 255] farthest from every value in ``references``, and that distance."""
    ordered = np.sort(references)
    candidates = np.concatenate([[0.0, 255.0], (ordered[:-1] + ordered[1:]) / 2])
    distances = np.abs(candidates[:, None] - references[None, :]).min(axis=1)
    best = int(distances.argmax())
    return float(candidates[best]), float(distances[best])


def contrasting_colour(rng: np.random.Generator, references: Sequence[np.ndarray]) -> np.ndarray:
    """A random colour differing by >= MIN_COLOUR_CONTRAST, in some channel, from every reference.

    When ten random draws fail, one channel of a random colour is set to the value farthest from the
    references in that channel (the best channel), which meets the contrast whenever it can be met.
    """
    references = np.stack(references)
    for _ in range(10):
        colour = random_colour(rng)
        if np.abs(colour - references).max(axis=1).min() >= MIN_COLOUR_CONTRAST:
            return colour
    colour = random_colour(rng)
    options = [farthest_value(references[:, channel]) for channel in range(3)]
    channel = int(np.argmax([distance for _, distance in options]))
    colour[channel] = options[channel][0]
    return colour


# ------------------------------------------------------------------------------------- background

def pixel_grid(height: int, width: int) -> Tuple[np.ndarray, np.ndarray]:
    """Column and row coordinates (float32) of every pixel of a ``height x width`` patch."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return xs, ys


def gradient_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A linear two-colour gradient in a random direction (float32, ``size x size x 3``)."""
    angle = rng.uniform(0, 2 * math.pi)
    steps = np.arange(size, dtype=np.float32)
    ramp = steps[None, :] * math.cos(angle) + steps[:, None] * math.sin(angle)
    ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1e-6)
    start, end = random_colour(rng), random_colour(rng)
    return start + ramp[..., None] * (end - start)


def smooth_noise(rng: np.random.Generator, size: int, cells: int, amplitude: float) -> np.ndarray:
    """Low-frequency colour noise: a ``cells x cells`` random grid upsampled to the image."""
    grid = rng.standard_normal((cells, cells, 3), dtype=np.float32) * amplitude
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)


def add_soft_blobs(rng: np.random.Generator, image: np.ndarray) -> None:
    """Blend a few blurry, edge-less blobs into ``image`` (in place): clutter, never an object."""
    size = image.shape[0]
    small = max(size // 8, 4)
    alpha = np.zeros((small, small), np.float32)
    for _ in range(int(rng.integers(1, 5))):
        centre = (int(rng.integers(0, small)), int(rng.integers(0, small)))
        axes = (int(rng.integers(1, max(small // 4, 2))), int(rng.integers(1, max(small // 4, 2))))
        cv2.ellipse(alpha, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), sigmaX=1.5)
    alpha = cv2.resize(alpha, (size, size), interpolation=cv2.INTER_LINEAR)
    alpha *= float(rng.uniform(0.3, 0.7))
    image += alpha[..., None] * (random_colour(rng) - image)


def draw_clutter_lines(rng: np.random.Generator, image: np.ndarray) -> None:
    """Draw thin straight lines and random-walk scribbles on ``image`` (uint8, in place)."""
    size = image.shape[0]
    for _ in range(int(rng.integers(2, 10))):
        start = tuple(int(v) for v in rng.integers(0, size, 2))
        end = tuple(int(v) for v in rng.integers(0, size, 2))
        cv2.line(image, start, end, random_colour(rng).tolist(), int(rng.integers(1, 3)), cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 4))):
        steps = rng.normal(0, size / 12, (int(rng.integers(4, 12)), 2))
        points = np.cumsum(steps, axis=0) + rng.uniform(0, size, 2)
        points = np.clip(points, 0, size - 1).astype(np.int32)
        cv2.polylines(image, [points], False, random_colour(rng).tolist(), 1, cv2.LINE_AA)


def render_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Gradient + smooth noise + soft blobs + pixel noise + lines (uint8 ``size x size x 3``)."""
    image = gradient_background(rng, size)
    image += smooth_noise(rng, size, int(rng.integers(3, 9)), float(rng.uniform(8, 30)))
    add_soft_blobs(rng, image)
    image += rng.standard_normal((size, size, 3), dtype=np.float32) * float(rng.uniform(1, 8))
    image = np.clip(image, 0, 255).astype(np.uint8)
    draw_clutter_lines(rng, image)
    return image


# ----------------------------------------------------------------------------------------- shapes

def unit_circle(points: int = 64) -> np.ndarray:
    """``points`` vertices on the unit circle."""
    angles = np.linspace(0, 2 * math.pi, points, endpoint=False)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def unit_star(rng: np.random.Generator) -> np.ndarray:
    """A 5-pointed star inscribed in the unit circle, first tip pointing up."""
    inner = rng.uniform(0.38, 0.5)
    angles = -math.pi / 2 + np.arange(10) * math.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, 1.0, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def unit_outlines(kind: str, rng: np.random.Generator) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Outline of a shape kind in ``[-1, 1]^2`` and, for a ring, the outline of its hole."""
    if kind == 'ellipse':
        return unit_circle(), None
    if kind == 'ring':
        return unit_circle(), unit_circle() * rng.uniform(0.45, 0.7)
    if kind == 'rectangle':
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64), None
    if kind == 'triangle':
        return np.array([[0, -1], [1, 1], [-1, 1]], np.float64), None
    if kind == 'star':
        return unit_star(rng), None
    if kind == 'diamond':
        return np.array([[0, -1], [1, 0], [0, 1], [-1, 0]], np.float64), None
    raise ValueError(f'unknown shape kind {kind!r}')


def shape_half_sizes(kind: str, rng: np.random.Generator, image_size: int) -> Tuple[float, float]:
    """Half width and half height (px) before rotation: log-uniform size, random aspect ratio."""
    longer = log_uniform(rng, MIN_OBJECT_SIZE, max(MAX_OBJECT_FRACTION * image_size, MIN_OBJECT_SIZE))
    max_aspect = 1.25 if kind == 'star' else 2.0
    aspect = log_uniform(rng, 1 / max_aspect, max_aspect)  # width / height
    width, height = (longer, longer / aspect) if aspect >= 1 else (longer * aspect, longer)
    return width / 2, height / 2


def rotation_degrees(kind: str, rng: np.random.Generator) -> float:
    """Any angle, except small ones for rectangles and diamonds (a 45-degree square is a diamond)."""
    if kind in ('rectangle', 'diamond'):
        return float(rng.uniform(-MAX_ROTATION_BOXY_DEG, MAX_ROTATION_BOXY_DEG))
    return float(rng.uniform(0, 360))


def place_shape(kind: str, rng: np.random.Generator, image_size: int) -> List[np.ndarray]:
    """Outlines of one shape in image coordinates (px), scaled, rotated and fully inside the image."""
    outer, hole = unit_outlines(kind, rng)
    half_w, half_h = shape_half_sizes(kind, rng, image_size)
    theta = math.radians(rotation_degrees(kind, rng))
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    outlines = [(o * [half_w, half_h]) @ rotation.T for o in (outer, hole) if o is not None]
    low, high = outlines[0].min(axis=0), outlines[0].max(axis=0)
    centre = rng.uniform(-low, image_size - 1 - high)
    return [o + centre for o in outlines]


def rasterize(outlines: List[np.ndarray], image_size: int) -> Tuple[int, int, np.ndarray]:
    """Boolean mask of the shape in its own patch: ``(x0, y0, mask)``; a second outline is a hole."""
    x0, y0 = np.floor(outlines[0].min(axis=0)).astype(int)
    x1, y1 = np.ceil(outlines[0].max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, image_size), min(y1, image_size)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for value, outline in zip((1, 0), outlines):
        fixed_point = np.round((outline - [x0, y0]) * 16).astype(np.int32)  # 4 fractional bits
        cv2.fillPoly(mask, [fixed_point], value, lineType=cv2.LINE_8, shift=4)
    return int(x0), int(y0), mask.astype(bool)


# --------------------------------------------------------------------------------------- textures

def make_texture(rng: np.random.Generator, height: int, width: int,
                 references: Sequence[np.ndarray]) -> np.ndarray:
    """A ``height x width x 3`` float32 texture whose colours contrast with every reference colour."""
    kind = TEXTURES[int(rng.integers(0, len(TEXTURES)))]
    colour = contrasting_colour(rng, references)
    if kind == 'solid':
        return np.broadcast_to(colour, (height, width, 3)).astype(np.float32)
    if kind == 'noise':
        noise = rng.standard_normal((height, width, 3), dtype=np.float32) * float(rng.uniform(5, 20))
        return colour + noise
    xs, ys = pixel_grid(height, width)
    if kind == 'stripes':
        angle = rng.uniform(0, math.pi)
        half_period = rng.uniform(1.5, 5.0)
        pattern = np.floor((xs * math.cos(angle) + ys * math.sin(angle)) / half_period) % 2
    else:  # checker
        cell = float(rng.integers(2, 7))
        pattern = (np.floor(xs / cell) + np.floor(ys / cell)) % 2
    second = contrasting_colour(rng, references)
    return np.where(pattern[..., None] > 0, second, colour).astype(np.float32)


def paint_object(rng: np.random.Generator, image: np.ndarray, background: np.ndarray, owner: np.ndarray,
                 object_index: int, patch: Tuple[int, int, np.ndarray]) -> None:
    """Fill the mask ``patch`` of one object with a texture and record it in ``owner`` (in place).

    The texture colours contrast with the mean background colour under the mask (where the object
    shows against the background) and with the mean of what is painted there now (other objects).
    """
    x0, y0, mask = patch
    height, width = mask.shape
    window = np.s_[y0:y0 + height, x0:x0 + width]
    region = image[window]
    references = [background[window][mask].mean(axis=0), region[mask].mean(axis=0)]
    texture = np.clip(make_texture(rng, height, width, references), 0, 255).astype(np.uint8)
    np.copyto(region, texture, where=mask[..., None])
    owner[window][mask] = object_index


def visible_part(owner: np.ndarray, object_index: int, patch: Tuple[int, int, np.ndarray]
                 ) -> Tuple[Optional[Box], float]:
    """Tight box (pixel edges) of the still-visible pixels of an object and their fraction."""
    x0, y0, mask = patch
    height, width = mask.shape
    visible = owner[y0:y0 + height, x0:x0 + width] == object_index
    count = int(visible.sum())
    if count == 0:
        return None, 0.0
    rows, cols = np.nonzero(visible.any(axis=1))[0], np.nonzero(visible.any(axis=0))[0]
    box = (x0 + int(cols[0]), y0 + int(rows[0]), x0 + int(cols[-1]) + 1, y0 + int(rows[-1]) + 1)
    return box, count / int(mask.sum())


# ------------------------------------------------------------------------------------------ images

def check_num_classes(num_classes: int) -> None:
    """Raise ValueError unless ``1 <= num_classes <= len(SHAPE_KINDS)``."""
    if not 1 <= num_classes <= len(SHAPE_KINDS):
        raise ValueError(f'num_classes must be between 1 and {len(SHAPE_KINDS)}, got {num_classes}')


def render_scene(index: int, seed: int, image_size: int, num_classes: int,
                 max_objects: int = MAX_OBJECTS) -> Scene:
    """Render image ``index`` of the data set drawn with ``seed`` (BGR uint8, as cv2 writes it)."""
    check_num_classes(num_classes)
    rng = image_rng(seed, index)
    background = render_background(rng, image_size)
    image = background.copy()
    owner = np.full((image_size, image_size), -1, np.int16)
    class_ids, patches = [], []
    for object_index in range(int(rng.integers(1, max_objects + 1))):
        class_id = int(rng.integers(0, num_classes))
        patch = rasterize(place_shape(SHAPE_KINDS[class_id], rng, image_size), image_size)
        paint_object(rng, image, background, owner, object_index, patch)
        class_ids.append(class_id)
        patches.append(patch)
    objects = [RenderedObject(class_id, *visible_part(owner, k, patch))
               for k, (class_id, patch) in enumerate(zip(class_ids, patches))]
    return Scene(image=image, background=background, owner=owner, objects=objects)


def render_image(index: int, seed: int, image_size: int, num_classes: int
                 ) -> Tuple[np.ndarray, List[Tuple[int, int, int, int, int]]]:
    """Image ``index`` (BGR uint8) and its boxes ``(class_id, x1, y1, x2, y2)`` (0-based class ids)."""
    scene = render_scene(index, seed, image_size, num_classes)
    return scene.image, scene.annotations()


def image_file_name(index: int) -> str:
    """File name of image ``index`` inside ``<out>/images``."""
    return f'{index:06d}.jpg'


def jpeg_parameters() -> List[int]:
    """cv2.imwrite flags: quality 95 and, where OpenCV supports it, no chroma subsampling (4:4:4)."""
    parameters = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    if hasattr(cv2, 'IMWRITE_JPEG_SAMPLING_FACTOR'):  # OpenCV >= 4.5.5
        parameters += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
    return parameters


def render_and_write(index: int, seed: int, image_size: int, num_classes: int, image_dir: str
                     ) -> List[Tuple[int, int, int, int, int]]:
    """Render image ``index``, write it as JPEG into ``image_dir`` and return its boxes."""
    image, boxes = render_image(index, seed, image_size, num_classes)
    path = osp.join(image_dir, image_file_name(index))
    if not cv2.imwrite(path, image, jpeg_parameters()):
        raise OSError(f'could not write {path}')
    return boxes


def init_worker() -> None:
    """One OpenCV thread per worker process: the processes already use every core."""
    cv2.setNumThreads(1)


# ---------------------------------------------------------------------------------------- data set

def progress_printer(total: int, print_fn: Callable[[str], None]) -> Callable[[int], None]:
    """A callback that prints ``rendered done/total`` each time another ~10 % is finished."""
    step = max(total // 10, 1)

    def report(done: int) -> None:
        if done % step == 0 or done == total:
            print_fn(f'  rendered {done:6d}/{total} images ({100 * done // total:3d}%)')
    return report


def render_all(indices: Sequence[int], seed: int, image_size: int, num_classes: int, image_dir: str,
               workers: int, report: Callable[[int], None]) -> Dict[int, list]:
    """Render and write every image of ``indices``; return the boxes by image index."""
    task = functools.partial(render_and_write, seed=seed, image_size=image_size,
                             num_classes=num_classes, image_dir=image_dir)
    boxes = {}
    if workers <= 1:
        init_worker()
        results = map(task, indices)
        for done, (index, image_boxes) in enumerate(zip(indices, results), 1):
            boxes[index] = image_boxes
            report(done)
        return boxes
    chunksize = max(1, min(32, len(indices) // (workers * 8)))
    with Pool(workers, initializer=init_worker) as pool:
        results = pool.imap(task, indices, chunksize=chunksize)
        for done, (index, image_boxes) in enumerate(zip(indices, results), 1):
            boxes[index] = image_boxes
            report(done)
    return boxes


def split_coco(indices: Sequence[int], boxes: Dict[int, list], image_size: int, categories: List[dict],
               description: str) -> dict:
    """COCO dict of the images ``indices`` (ids ``index + 1``) with their boxes."""
    images, annotations = [], []
    for index in indices:
        images.append(dict(id=index + 1, file_name=image_file_name(index), width=image_size,
                           height=image_size))
        for class_id, x1, y1, x2, y2 in boxes[index]:
            annotations.append(box_annotation(index + 1, class_id + 1, x1, y1, x2, y2))
    return coco_dict(images, annotations, categories, description)


def remove_stale_images(image_dir: str, total: int) -> None:
    """Delete images of an earlier, larger run (our own ``NNNNNN.jpg`` names with index >= total)."""
    for name in os.listdir(image_dir):
        match = IMAGE_NAME_PATTERN.match(name)
        if match and int(match.group(1)) >= total:
            os.remove(osp.join(image_dir, name))


def generate(out_dir: str, num_images: int, image_size: int, num_classes: int, labeled_percent: float,
             val_images: int, seed: int, workers: int = 1,
             print_fn: Callable[[str], None] = print) -> Dict[str, dict]:
    """Write images and the four annotation files into ``out_dir``; return the COCO dicts by role.

    Roles are those of :func:`ssod.data.coco_files.write_semi_split`: ``labeled``, ``unlabeled``,
    ``hidden_gt``, ``val``. Does not read or write the stamp (see :func:`main`).
    """
    check_num_classes(num_classes)
    image_dir, ann_dir = osp.join(out_dir, 'images'), osp.join(out_dir, 'annotations')
    os.makedirs(image_dir, exist_ok=True)
    total = num_images + val_images
    remove_stale_images(image_dir, total)
    report = progress_printer(total, print_fn)
    boxes = render_all(range(total), seed, image_size, num_classes, image_dir, workers, report)
    categories = make_categories(SHAPE_KINDS[:num_classes])
    description = f'synthetic shapes, seed {seed}, {image_size} px'
    train = split_coco(range(num_images), boxes, image_size, categories, description + ', train')
    val = split_coco(range(num_images, total), boxes, image_size, categories, description + ', val')
    return write_semi_split(ann_dir, train, val, labeled_percent, seed)


# ------------------------------------------------------------------------------------------- stamp

def stamp_content(args: argparse.Namespace) -> dict:
    """What decides the output (not ``--workers``: the output does not depend on it)."""
    return dict(generator_version=GENERATOR_VERSION, num_images=args.num_images,
                image_size=args.image_size, num_classes=args.num_classes,
                labeled_percent=args.labeled_percent, val_images=args.val_images, seed=args.seed)


def read_stamp(out_dir: str) -> Optional[dict]:
    """The stamp of the last complete run in ``out_dir``, or None."""
    try:
        with open(osp.join(out_dir, STAMP_NAME)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def outputs_complete(out_dir: str, total_images: int) -> bool:
    """Whether every image and annotation file of a run is present."""
    ann_names = ('labeled.json', 'unlabeled.json', 'unlabeled-hidden-gt.json', 'val.json')
    if not all(osp.isfile(osp.join(out_dir, 'annotations', name)) for name in ann_names):
        return False
    return all(osp.isfile(osp.join(out_dir, 'images', image_file_name(i))) for i in range(total_images))


def is_up_to_date(args: argparse.Namespace) -> bool:
    """Same arguments as the last complete run, and its files are all there."""
    return (read_stamp(args.out) == stamp_content(args)
            and outputs_complete(args.out, args.num_images + args.val_images))


def write_stamp(out_dir: str, content: dict) -> None:
    """Record a complete run (written last, so an interrupted run is never "up to date")."""
    with open(osp.join(out_dir, STAMP_NAME), 'w') as f:
        json.dump(content, f, indent=2)
