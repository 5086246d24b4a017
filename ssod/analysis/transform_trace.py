"""Which transforms changed a view, recorded while a data pipeline runs (for the view pictures).

mmdet's random transforms (``RandomResize``, ``RandomFlip``, the ops that ``RandAugment`` draws in an
order that ``RandomOrder`` draws, ``RandomErasing``) leave only their combined ``homography_matrix``
behind. :func:`trace_transforms` instruments a built pipeline so that every **leaf** transform (one
that wraps no other) records what it did, in order, in ``results['applied_transforms']``:

* a transform that moved pixels (its step of ``homography_matrix``, ``H_after @ inv(H_before)``, is not
  the identity) is recorded as ``'<name> (<what the step does>)'``, e.g. ``'Rotate (rotate 12.3 deg)'``
  (:func:`describe_step`);
* one that changed pixel values only (colour ops, ``RandomErasing``) as ``'<name>'``;
* one that changed neither (a flip not drawn, a disabled op, ``FilterAnnotations``, the loading
  transforms, which find no image yet) is not recorded.

``MultiBranch`` deep-copies the results per branch, so each view carries the list of its own branch (and
of the transforms before the branching). The transform that packs a view (a leaf whose output has
``data_samples``: ``PackDetInputs``) copies the list into the packed sample's metainfo under the same key.
Recording reads the results before and after each transform and draws no random number, so an
instrumented pipeline produces exactly the views of the plain one under the same seeds.
"""
import math
from typing import Iterator, List, Optional

import numpy as np
from mmcv.transforms import BaseTransform

APPLIED_TRANSFORMS = 'applied_transforms'
_TOLERANCE = 1e-4  # of a homography entry: a step closer than this to the identity moved nothing


def _children(transform) -> List:
    """The transforms a wrapper runs (``Compose``, ``RandomChoice``, ``RandAugment``, ``RandomOrder``,
    ``RandomApply``, ``KeyMapper``, ``MultiBranch``); empty for a leaf."""
    children = []
    inner = getattr(transform, 'transforms', None)
    if isinstance(inner, (list, tuple)):
        children.extend(inner)
    elif isinstance(inner, BaseTransform):
        children.append(inner)
    branches = getattr(transform, 'branch_pipelines', None)
    if isinstance(branches, dict):
        children.extend(branches.values())
    return children


def leaf_transforms(pipeline) -> Iterator[BaseTransform]:
    """Every leaf transform of a built pipeline, depth first."""
    children = _children(pipeline)
    if not children:
        if isinstance(pipeline, BaseTransform):
            yield pipeline
        return
    for child in children:
        yield from leaf_transforms(child)


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.allclose(a, b, atol=_TOLERANCE, rtol=0.0))


def describe_step(step: np.ndarray) -> str:
    """What a ``3 x 3`` homography step (pixels of the view before -> after) does, in words.

    Recognised (linear part ``A``, translation ``t`` in pixels): a scale ``s I`` -> ``'scale 1.12'``
    (``'scale 1.12 x 1.10'`` for unequal axes); a flip ``diag(-1, 1)`` / ``diag(1, -1)`` /
    ``diag(-1, -1)`` -> ``'flip horizontal'`` / ``'flip vertical'`` / ``'flip diagonal'``; a rotation by
    ``a`` degrees -> ``'rotate 12.3 deg'`` (image axes, y pointing down: positive is clockwise on screen);
    a shear ``[[1, k], [0, 1]]`` / ``[[1, 0], [k, 1]]`` -> ``'shear x 0.21'`` / ``'shear y 0.21'``;
    the identity with ``t != 0`` -> ``'translate (dx, dy) px'``. Anything else: the matrix entries.
    """
    step = np.asarray(step, dtype=np.float64)
    if step.shape != (3, 3):
        raise ValueError(f'a homography step must be 3 x 3, got shape {step.shape}')
    a, t = step[:2, :2], step[:2, 2]
    if _close(step[2], np.array([0.0, 0.0, 1.0])):
        if _close(a, np.eye(2)):
            return f'translate ({t[0]:+.1f}, {t[1]:+.1f}) px'
        if abs(a[0, 1]) < _TOLERANCE and abs(a[1, 0]) < _TOLERANCE:
            sx, sy = a[0, 0], a[1, 1]
            if sx > 0 and sy > 0:
                return f'scale {sx:.3g}' if abs(sx - sy) < 0.01 else f'scale {sx:.3g} x {sy:.3g}'
            flips = {(-1, 1): 'horizontal', (1, -1): 'vertical', (-1, -1): 'diagonal'}
            key = (int(round(np.sign(sx))), int(round(np.sign(sy))))
            if _close(np.abs(np.diag(a)), np.ones(2)) and key in flips:
                return f'flip {flips[key]}'
        if _close(a @ a.T, np.eye(2)) and np.linalg.det(a) > 0:
            return f'rotate {math.degrees(math.atan2(a[1, 0], a[0, 0])):.1f} deg'
        if _close(np.diag(a), np.ones(2)) and abs(a[1, 0]) < _TOLERANCE:
            return f'shear x {a[0, 1]:.3g}'
        if _close(np.diag(a), np.ones(2)) and abs(a[0, 1]) < _TOLERANCE:
            return f'shear y {a[1, 0]:.3g}'
    rows = '; '.join(' '.join(f'{v:.3g}' for v in row) for row in step)
    return f'matrix [{rows}]'


def _homography(results: dict) -> Optional[np.ndarray]:
    matrix = results.get('homography_matrix')
    return None if matrix is None else np.asarray(matrix, dtype=np.float64)


def _record(transform: BaseTransform) -> None:
    """Replace ``transform.transform`` (what ``BaseTransform.__call__`` calls) by a recording one."""
    name = type(transform).__name__
    original = transform.transform

    def recording_transform(results: dict):
        image = results.get('img')
        image_before = None if image is None else np.array(image, copy=True)
        h_before = _homography(results)
        applied = list(results.get(APPLIED_TRANSFORMS, []))
        out = original(results)
        if not isinstance(out, dict):
            return out
        samples = out.get('data_samples')
        if samples is not None and hasattr(samples, 'set_metainfo'):  # the view was packed
            samples.set_metainfo({APPLIED_TRANSFORMS: applied})
            return out
        h_after = _homography(out)
        if h_after is not None and (h_before is None or not _close(h_after, h_before)):
            step = h_after if h_before is None else h_after @ np.linalg.inv(h_before)
            applied.append(f'{name} ({describe_step(step)})')
        elif image_before is not None:
            image_after = out.get('img')
            if image_after is not None and (image_after.shape != image_before.shape
                                            or not np.array_equal(image_after, image_before)):
                applied.append(name)
        out[APPLIED_TRANSFORMS] = applied
        return out

    transform.transform = recording_transform


def trace_transforms(pipeline) -> int:
    """Instrument every leaf transform of the built ``pipeline`` (in place; see the module doc);
    returns how many were instrumented. Instrumenting twice is an error (it would record twice)."""
    count = 0
    for transform in leaf_transforms(pipeline):
        if getattr(transform, '_records_applied_transforms', False):
            raise ValueError(f'{type(transform).__name__} is already traced')
        _record(transform)
        transform._records_applied_transforms = True
        count += 1
    return count
