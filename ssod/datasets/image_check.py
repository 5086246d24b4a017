"""What is wrong with an image file: the checks behind bad-image skipping and ``tools/data/check_images.py``.

:func:`image_file_problem` is cheap (a stat and two small reads, no decoding) and is run by ssod's
``LoadImageFromFile`` before every decode: a missing or empty file, and JPEG/PNG files cut short (which
OpenCV would decode into a partly grey image without an error). :func:`image_problem` also decodes
the image (for the pre-flight check). Both return '' for a good file and otherwise the reason,
phrased to follow the path ("... does not exist").
"""
import os
import os.path as osp
import string

import numpy as np

JPEG_MAGIC = b'\xff\xd8\xff'
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
_TAIL = 1024
_PRINTABLE = set(string.printable.encode())


class BadImageError(OSError):
    """An image file that cannot be read or decoded; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str, reason: str, hint: str = '') -> None:
        self.path = path
        self.reason = reason
        self.hint = hint
        super().__init__(f'image {path} {reason}{hint}')

    def __reduce__(self):  # crosses data-loader worker processes intact
        return type(self), (self.path, self.reason, self.hint)


def _looks_like_text(head: bytes) -> bool:
    return bool(head) and all(byte in _PRINTABLE for byte in head)


def image_file_problem(path: str) -> str:
    """Why the file at ``path`` is not a readable image without decoding it ('' if none is seen)."""
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        return 'does not exist'
    except OSError as error:
        return f'cannot be read ({error.strerror or error})'
    if osp.isdir(path):
        return 'is a folder, not an image file'
    if size == 0:
        return 'is empty (0 bytes)'
    try:
        with open(path, 'rb') as f:
            head = f.read(16)
            f.seek(max(0, size - _TAIL))
            tail = f.read(_TAIL)
    except OSError as error:
        return f'cannot be read ({error.strerror or error})'
    if head.startswith(JPEG_MAGIC):
        if b'\xff\xd9' not in tail.rstrip(b'\x00'):
            return f'is truncated ({size} bytes): a JPEG without its end-of-image marker'
    elif head.startswith(PNG_MAGIC):
        if b'IEND' not in tail[-64:]:
            return f'is truncated ({size} bytes): a PNG without its IEND chunk'
    elif _looks_like_text(head):
        return f'is not an image: it holds text ({head[:16]!r}...)'
    return ''


def decode_problem(path: str) -> str:
    """Why OpenCV cannot decode the file at ``path`` ('' if it can)."""
    import cv2
    with open(path, 'rb') as f:
        data = np.frombuffer(f.read(), dtype=np.uint8)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as error:
        return f'cannot be decoded ({str(error).strip().splitlines()[-1]})'
    if image is None or image.size == 0:
        return 'cannot be decoded as an image'
    return ''


def image_problem(path: str) -> str:
    """:func:`image_file_problem`, then a full decode: '' for an image that training can use."""
    return image_file_problem(path) or decode_problem(path)
