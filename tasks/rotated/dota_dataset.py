"""DOTA-format oriented-box dataset: an ``images/`` folder and a ``labelTxt/`` folder.

Each item of :meth:`DotaDataset.load_data_list` is::

    {'img_path': str, 'img_id': str (image file stem, e.g. 'P0706' or 'P0706__1__0___0'),
     'height': int, 'width': int,
     'instances': {'polygons': float32 (N, 8) x1 y1 ... x4 y4 in original-image pixels,
                   'labels': int64 (N,) index into metainfo['classes'],
                   'ignore': bool (N,) (DOTA difficult != 0, with difficult_as_ignore)}}

Images without objects are kept with ``(0, 8)`` / ``(0,)`` arrays. ``metainfo`` holds
``classes``, ``palette`` (one RGB tuple per class), ``ann_dir`` (absolute path of the
label folder, read by :class:`~centerx_tasks.rotated.dota_metric.DotaMetric`) and ``version``.
Samples given to the pipeline also carry ``'metainfo'`` (the dataset's metainfo).
"""
from __future__ import annotations

import logging
import os
import struct
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from centerx.data import DetBaseDataset
from centerx.data.base_dataset import resolve_on_invalid
from centerx.registry import DATASETS
from centerx.utils import log

from .dota_labels import DOTA_V1_CLASSES, DOTA_V15_CLASSES, parse_dota_label_file

CLASSES_OF_VERSION: Dict[str, Tuple[str, ...]] = {'v1.0': DOTA_V1_CLASSES, 'v1.5': DOTA_V15_CLASSES}

DOWNLOAD_HELP = (
    'DOTA cannot be downloaded automatically: get it from the official site '
    '(https://captain-whu.github.io/DOTA/dataset.html) and unpack it into '
    'data/DOTA/{train,val}/{images,labelTxt}, then cut it into patches with\n'
    '    python tools/dota_split.py --src data/DOTA/train --dst data/DOTA/split_1024/train '
    '--patch-size 1024 --gap 200\n'
    '    python tools/dota_split.py --src data/DOTA/val --dst data/DOTA/split_1024/val '
    '--patch-size 1024 --gap 200\n'
    'To try the rotated task without any download, use configs/rotated_synthetic.py '
    '(it generates a small synthetic DOTA-format dataset on first use).')


def image_size(path: str) -> Tuple[int, int]:
    """(height, width) of an image, from its header only (no pixel decoding).

    PNG sizes are read from the IHDR chunk directly; other formats through PIL's lazy
    ``Image.open``.

    Raises:
        ValueError: the file is not a readable image (message names it).
    """
    with open(path, 'rb') as f:
        head = f.read(24)
    if head[:8] == b'\x89PNG\r\n\x1a\n' and head[12:16] == b'IHDR':
        width, height = struct.unpack('>II', head[16:24])
        return int(height), int(width)
    from PIL import Image
    try:
        with Image.open(path) as img:
            width, height = img.size
    except Exception as e:  # PIL raises UnidentifiedImageError, OSError, SyntaxError ...
        raise ValueError(f'{path}: not a readable image ({e})') from e
    return int(height), int(width)


@DATASETS.register_module()
class DotaDataset(DetBaseDataset):
    """DOTA v1.0 / v1.5 style dataset (full images or devkit patches).

    Args:
        data_root: root joined to the relative ``data_prefix`` folders.
        data_prefix: ``dict(img='images/', ann='labelTxt/')``; every image of the
            ``img`` folder with a suffix in ``img_suffixes`` is an item, its labels
            are ``<ann>/<image stem>.txt``.
        version: ``'v1.0'`` (15 classes) or ``'v1.5'`` (16 classes); selects the
            default class list.
        metainfo: optional ``dict(classes=(...), palette=...)``; ``classes`` replaces
            the version's list (any class names: e.g. a subset of DOTA's, or the
            synthetic data's). Objects of other DOTA classes are dropped (counted in
            ``self.num_dropped_objects``); unknown names are malformed lines.
        on_invalid: malformed label lines: ``'raise'`` (error naming file and line) or
            ``'skip'`` (dropped; counted in ``self.num_skipped_lines`` and logged per
            file and in total).
        on_error: deprecated name of ``on_invalid``.
        difficult_as_ignore: keep difficult objects flagged ``ignore=True``; False
            keeps them as ordinary objects (``ignore`` all False).
        filter_cfg: ``dict(filter_empty_gt=bool, min_size=int)``, not applied in
            ``test_mode``: drop images without objects (ignored ones count) and images
            whose shorter side is below ``min_size``; the count is logged.
        img_suffixes: image file suffixes (case-insensitive).
        allow_missing_labels: with ``test_mode=True``, images without a label file
            (a test split) are kept with zero objects; otherwise a missing label file
            is an error naming the image and the expected label path.
        generate_if_missing: when the image folder does not exist, call
            :func:`centerx_tasks.rotated.synthetic.ensure_synthetic_dota` with these keyword
            arguments first (``root`` defaults to ``data_root``).
        **kwargs: the other options of :class:`mmengine.dataset.BaseDataset` (``indices``,
            ``serialize_data``, ``pipeline``, ``test_mode``, ``lazy_init``, ``max_refetch``).

    Raises:
        FileNotFoundError: the image folder does not exist (message: where it looked and
            how to get DOTA), or a label file is missing (see ``allow_missing_labels``).
        DotaLabelError: malformed label line with ``on_invalid='raise'``.
    """

    def __init__(self,
                 data_root: str = '',
                 data_prefix: Optional[Dict[str, str]] = None,
                 version: str = 'v1.0',
                 metainfo: Optional[Mapping] = None,
                 on_invalid: str = 'raise',
                 difficult_as_ignore: bool = True,
                 filter_cfg: Optional[Dict[str, Any]] = None,
                 img_suffixes: Sequence[str] = ('.png', '.jpg', '.tif', '.bmp'),
                 allow_missing_labels: bool = False,
                 generate_if_missing: Optional[Dict[str, Any]] = None,
                 on_error: Optional[str] = None,
                 **kwargs: Any) -> None:
        if version not in CLASSES_OF_VERSION:
            raise ValueError(f'version must be one of {sorted(CLASSES_OF_VERSION)}, got {version!r}')
        self.on_invalid = resolve_on_invalid(type(self).__name__, on_invalid, on_error=on_error)
        prefix = dict(img='images/', ann='labelTxt/')
        prefix.update(data_prefix or {})
        self.version = version
        self.difficult_as_ignore = bool(difficult_as_ignore)
        self.img_suffixes = tuple(s.lower() for s in img_suffixes)
        self.allow_missing_labels = bool(allow_missing_labels)
        self.generate_if_missing = None if generate_if_missing is None else dict(generate_if_missing)
        self.num_skipped_lines = 0
        self.num_dropped_objects = 0
        super().__init__(ann_file='', metainfo=metainfo, data_root=data_root, data_prefix=prefix,
                         filter_cfg=filter_cfg, **kwargs)

    # ------------------------------------------------------------------ folders
    @property
    def img_dir(self) -> str:
        """The image folder (``data_root`` joined)."""
        return self.data_prefix['img']

    @property
    def ann_dir(self) -> str:
        """The label folder (``data_root`` joined)."""
        return self.data_prefix['ann']

    def _ensure_folders(self) -> None:
        """Generate synthetic data if asked, then require the image folder."""
        if not os.path.isdir(self.img_dir) and self.generate_if_missing is not None:
            from .synthetic import ensure_synthetic_dota
            self._generate(ensure_synthetic_dota)
        if not os.path.isdir(self.img_dir):
            raise FileNotFoundError(
                f'DOTA image folder {os.path.abspath(self.img_dir)} does not exist (data_root='
                f'{self.data_root!r}, data_prefix={self.data_prefix}).\n{DOWNLOAD_HELP}')

    def _classes(self) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
        """(classes, parse_classes): the label list, and it plus the other DOTA names."""
        requested = self._metainfo.get('classes')
        classes = CLASSES_OF_VERSION[self.version] if requested is None else tuple(str(c) for c in requested)
        if not classes or len(set(classes)) != len(classes):
            raise ValueError(f'metainfo classes must be distinct names, got {classes}')
        extra = tuple(c for c in DOTA_V15_CLASSES if c not in classes)
        return classes, classes + extra

    def _update_metainfo(self, classes: Tuple[str, ...]) -> None:
        self._metainfo.update(classes=classes, palette=self._palette(classes),
                              ann_dir=os.path.abspath(self.ann_dir), version=self.version)

    def _image_files(self) -> List[str]:
        names = [n for n in os.listdir(self.img_dir)
                 if os.path.splitext(n)[1].lower() in self.img_suffixes
                 and os.path.isfile(os.path.join(self.img_dir, n))]
        names.sort()
        stems: Dict[str, str] = {}
        for n in names:
            stem = os.path.splitext(n)[0]
            if stem in stems:
                raise ValueError(f'{self.img_dir}: images {stems[stem]} and {n} have the same name '
                                 f'{stem!r} (one label file each is expected)')
            stems[stem] = n
        return names

    # ------------------------------------------------------------------ loading
    def _empty(self) -> Dict[str, np.ndarray]:
        return dict(polygons=np.zeros((0, 8), np.float32), labels=np.zeros(0, np.int64),
                    ignore=np.zeros(0, bool))

    def _read_labels(self, label_path: str, num_classes: int,
                     parse_classes: Tuple[str, ...]) -> Tuple[Dict[str, np.ndarray], int]:
        """Instances of one label file and its number of skipped lines."""
        parsed = parse_dota_label_file(label_path, parse_classes, on_invalid=self.on_invalid)
        if parsed.skipped:
            shown = '; '.join(f'line {n}: {why}' for n, why in parsed.skipped[:5])
            log(f'{label_path}: skipped {len(parsed.skipped)} malformed line(s): {shown}'
                f'{" ..." if len(parsed.skipped) > 5 else ""}', logging.WARNING)
        keep = parsed.labels < num_classes
        self.num_dropped_objects += int((~keep).sum())
        ignore = parsed.difficult[keep] if self.difficult_as_ignore else np.zeros(int(keep.sum()), bool)
        return dict(polygons=parsed.polys[keep].astype(np.float32).reshape(-1, 8),
                    labels=parsed.labels[keep].astype(np.int64),
                    ignore=np.asarray(ignore, bool)), len(parsed.skipped)

    def load_data_list(self) -> List[dict]:
        """One dict per image of the image folder (see the module docstring)."""
        self._ensure_folders()
        classes, parse_classes = self._classes()
        self._update_metainfo(classes)
        self.num_skipped_lines = 0
        self.num_dropped_objects = 0
        tolerate_missing = self.test_mode and self.allow_missing_labels
        ann_exists = os.path.isdir(self.ann_dir)
        if not ann_exists and not tolerate_missing:
            raise FileNotFoundError(
                f'DOTA label folder {os.path.abspath(self.ann_dir)} does not exist (images: '
                f'{os.path.abspath(self.img_dir)}); for unlabelled test images use test_mode=True '
                f'and allow_missing_labels=True.\n{DOWNLOAD_HELP}')
        data_list, files_with_skips, unlabelled = [], 0, 0
        for name in self._image_files():
            stem = os.path.splitext(name)[0]
            img_path = os.path.join(self.img_dir, name)
            label_path = os.path.join(self.ann_dir, f'{stem}.txt')
            if ann_exists and os.path.isfile(label_path):
                instances, skipped = self._read_labels(label_path, len(classes), parse_classes)
                self.num_skipped_lines += skipped
                files_with_skips += int(skipped > 0)
            elif tolerate_missing:
                instances = self._empty()
                unlabelled += 1
            else:
                raise FileNotFoundError(
                    f'image {img_path} has no label file {label_path}; for unlabelled test images '
                    'use test_mode=True and allow_missing_labels=True')
            height, width = image_size(img_path)
            data_list.append(dict(img_path=img_path, img_id=stem, height=height, width=width,
                                  instances=instances))
        if self.num_skipped_lines:
            log(f'{self.ann_dir}: skipped {self.num_skipped_lines} malformed label line(s) in '
                f'{files_with_skips} file(s)', logging.WARNING)
        if self.num_dropped_objects:
            log(f'{self.ann_dir}: dropped {self.num_dropped_objects} object(s) of classes outside '
                f'{classes}', logging.INFO)
        if unlabelled:
            log(f'{self.img_dir}: {unlabelled} of {len(data_list)} images have no label file '
                '(kept without objects)', logging.INFO)
        if not data_list:
            log(f'{self.img_dir}: no images with suffixes {self.img_suffixes}', logging.WARNING)
        return data_list

    # ---------------------------------------------------------------- filtering
    def _filter_source(self) -> str:
        """The image folder (the filter log line names it)."""
        return self.img_dir
