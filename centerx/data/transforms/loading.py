"""Reading images from disk."""
from __future__ import annotations

import os
from typing import Dict, Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from centerx.registry import TRANSFORMS
from centerx.structures import ImageMeta

_JPEG_START = b'\xff\xd8'
_JPEG_SCAN = b'\xff\xda'
_JPEG_END = b'\xff\xd9'
_PNG_START = b'\x89PNG\r\n\x1a\n'
_PNG_END = b'IEND'


def truncation_of(data: bytes) -> Optional[str]:
    """Why the encoded JPEG or PNG ``data`` is cut short, or None (complete or another format).

    OpenCV decodes a truncated JPEG without an error (the missing rows come out grey), so
    the markers are checked here: a JPEG needs an end-of-image marker after its last
    start-of-scan (trailing bytes after it are allowed), a PNG its ``IEND`` chunk.
    """
    if data.startswith(_JPEG_START):
        last_scan = data.rfind(_JPEG_SCAN)
        if last_scan < 0 or data.find(_JPEG_END, last_scan) < 0:
            return 'is a truncated JPEG (no end-of-image marker after its last scan)'
    elif data.startswith(_PNG_START) and data.rfind(_PNG_END) < 0:
        return 'is a truncated PNG (no IEND chunk)'
    return None


class ImageFileError(ValueError):
    """An image file that cannot give an image: unreadable, empty, truncated, not an image, or
    of another size than its annotation says. The message names the file and the image id;
    ``path`` holds the file (None when PyTorch rebuilt the error from a data-loader worker's
    message, which still names it). A dataset with ``on_invalid='skip'`` skips and counts such images
    (:meth:`~centerx.data.base_dataset.DetBaseDataset.prepare_data`)."""

    def __init__(self, message: str, path: Optional[str] = None) -> None:
        super().__init__(message)
        self.path = path


class MissingImageError(FileNotFoundError, ImageFileError):
    """An image file that does not exist (also a ``FileNotFoundError``)."""

    def __init__(self, message: str, path: Optional[str] = None) -> None:
        FileNotFoundError.__init__(self, message)
        self.path = path


def read_image_file(path: str, img_id: object = None) -> np.ndarray:
    """The BGR uint8 (H, W, 3) image of the file ``path``.

    Raises:
        MissingImageError: (a FileNotFoundError) the file does not exist.
        ImageFileError: (a ValueError) naming the file and ``img_id``: unreadable
            (permissions, a folder), empty, truncated, or not an image OpenCV can decode.
    """
    where = f'image {path} (img_id={img_id})'
    if not os.path.exists(path):
        raise MissingImageError(f'{where} does not exist', path)
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        raise ImageFileError(f'{where} cannot be read: {e}', path) from e
    reason = 'is empty' if not data else truncation_of(data)
    if reason is None:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        reason = 'is not a readable image' if img is None else None
    if reason is not None:
        raise ImageFileError(f'{where} {reason}', path)
    return img


@TRANSFORMS.register_module()
class LoadImage(BaseTransform):
    """Read ``results['img_path']`` as a BGR uint8 (H, W, 3) image and start the ImageMeta.

    The dataset's per-task metas (``results['task_metas']``: a sequence of objects, at most
    one per type, e.g. a 3D task's camera) go to ``ImageMeta.task_metas`` unchanged.

    Raises:
        MissingImageError (a FileNotFoundError) / ImageFileError (a ValueError) naming the
        file (and the image id) when it is missing, unreadable, empty, truncated (JPEG / PNG)
        or not an image, or when its size disagrees with the annotation's (see
        :func:`read_image_file`). In a data loader worker the error reaches the main process
        (PyTorch re-raises it there). A training dataset with ``on_invalid='skip'`` turns it
        into a counted skip instead (:meth:`~centerx.data.base_dataset.DetBaseDataset.prepare_data`).
    """

    def transform(self, results: Dict) -> Dict:
        path = results['img_path']
        img = read_image_file(path, results.get('img_id'))
        h, w = img.shape[:2]
        expected = (results.get('height'), results.get('width'))
        if all(v is not None for v in expected) and (h, w) != tuple(expected):
            raise ImageFileError(f'image {path} (img_id={results.get("img_id")}) is {w}x{h} but its '
                                 f'annotation says {expected[1]}x{expected[0]}', path)
        results['img'] = np.ascontiguousarray(img)
        results['meta'] = ImageMeta(img_id=results.get('img_id'), img_path=path, ori_shape=(h, w),
                                    img_shape=(h, w), pad_shape=(h, w),
                                    task_metas=tuple(results.get('task_metas', ())))
        results.setdefault('instances', {})
        return results
