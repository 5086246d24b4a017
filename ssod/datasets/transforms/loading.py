"""``LoadImageFromFile``: mmcv's transform (same arguments) whose failures name the file and the reason.

mmcv's transform fails on a bad file with errors that do not always say which file (a 0-byte file:
``cv2.error ... !buf.empty()``) and decodes a JPEG cut short into a partly grey image without a word.
This drop-in checks local files first (:func:`~ssod.datasets.image_check.image_file_problem`) and
turns every read/decode failure into :class:`~ssod.datasets.image_check.BadImageError` naming the path
and the reason. Datasets that skip bad images (the unlabeled ``CocoWithHiddenGT``) catch exactly that
error; everywhere else it stays fatal, now with the path. ``ignore_empty=True`` returns None as before.
"""
from typing import Optional

from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile

from ssod.registry import TRANSFORMS
from ..image_check import BadImageError, image_file_problem

FIX_HINT = ('; fix or remove it (python tools/data/check_images.py CONFIG lists every bad image of a '
            "config's datasets)")


@TRANSFORMS.register_module()
class LoadImageFromFile(MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` raising :class:`BadImageError` (path + reason) for bad files."""

    def _is_local(self, path) -> bool:
        return (isinstance(path, str) and '://' not in path and self.file_client_args is None
                and not self.backend_args)

    def transform(self, results: dict) -> Optional[dict]:
        path = results['img_path']
        if self._is_local(path):
            problem = image_file_problem(path)
            if problem:
                if self.ignore_empty:
                    return None
                raise BadImageError(path, problem, FIX_HINT)
        try:
            return super().transform(results)
        except Exception as error:  # noqa: B902  (this transform only reads and decodes the file)
            if self.ignore_empty:
                return None
            detail = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
            raise BadImageError(path, f'cannot be decoded ({detail})', FIX_HINT) from error
