"""What the tasks' detection datasets share, on top of :class:`mmengine.dataset.BaseDataset`.

Items (``data_list`` entries) are dicts with ``'instances'`` holding at least ``labels``
and, unless :attr:`DetBaseDataset.filter_min_size` is off, ``'height'`` / ``'width'``.

Constructors of the tasks' datasets take their own options by keyword and pass every
:class:`mmengine.dataset.BaseDataset` option (``metainfo``, ``data_root``, ``filter_cfg``,
``indices``, ``serialize_data``, ``pipeline``, ``test_mode``, ``lazy_init``,
``max_refetch`` ...) through ``**kwargs``. Datasets that read annotations which can be
malformed share one bad-input policy, ``on_invalid``: ``'raise'`` (an error naming the
file and the record) or ``'skip'`` (dropped, counted and logged); see
:func:`resolve_on_invalid`.
"""
from __future__ import annotations

import colorsys
import logging
import os
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from mmengine.dataset import BaseDataset

from centerx.data.transforms.loading import ImageFileError
from centerx.utils import check_known_keys, log


def default_palette(num_classes: int) -> List[Tuple[int, int, int]]:
    """Deterministic, well-spread RGB colours (golden-ratio hues)."""
    colors = []
    for k in range(num_classes):
        r, g, b = colorsys.hsv_to_rgb((k * 0.618033988749895) % 1.0, 0.75, 0.95)
        colors.append((int(r * 255), int(g * 255), int(b * 255)))
    return colors


#: values of the bad-input policy ``on_invalid`` of the datasets
ON_INVALID: Tuple[str, ...] = ('raise', 'skip')


def resolve_on_invalid(owner: str, on_invalid: str = 'raise', **deprecated: Optional[str]) -> str:
    """The bad-input policy of dataset ``owner``: ``on_invalid``, or a deprecated keyword.

    Args:
        owner: the dataset's class name, for messages.
        on_invalid: ``'raise'`` or ``'skip'``.
        deprecated: the dataset's former keywords for the policy, e.g.
            ``invalid_box='error'`` or ``on_error='raise'`` (None = not given); a given one
            warns (``DeprecationWarning``; they go in the next release) and maps
            ``'error'`` to ``'raise'``.

    Raises:
        ValueError: an unknown value, or a deprecated keyword and ``on_invalid`` that disagree.
    """
    given = {k: v for k, v in deprecated.items() if v is not None}
    for key, value in given.items():
        warnings.warn(f"{owner}({key}={value!r}) is deprecated; use on_invalid='raise' or 'skip'",
                      DeprecationWarning, stacklevel=3)
        value = 'raise' if value == 'error' else value
        if value not in ON_INVALID:
            raise ValueError(f"{owner}: {key} must be 'error'/'raise' or 'skip', got {given[key]!r}")
        if on_invalid != 'raise' and value != on_invalid:
            raise ValueError(f'{owner}: on_invalid={on_invalid!r} and the deprecated {key}={given[key]!r} disagree')
        on_invalid = value
    if on_invalid not in ON_INVALID:
        raise ValueError(f"{owner}: on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
    return on_invalid


class DetBaseDataset(BaseDataset):
    """Base of the detection datasets: filtering, samples carrying the metainfo, helpers.

    - :meth:`filter_data` applies ``filter_cfg=dict(filter_empty_gt=bool, min_size=int)``
      (mmdet semantics, not in ``test_mode``): drop items without any instance (ignored
      ones count) and items whose shorter image side is below ``min_size``; logs how many
      were dropped.
    - :meth:`prepare_data` hands the pipeline ``data_info`` plus ``'metainfo'``, a copy
      of the dataset's metainfo (transforms read e.g. keypoint ``flip_pairs`` there).
    - :meth:`get_cat_ids`: the distinct labels of an item (class-balanced sampling).
    - :meth:`_generate` runs a synthetic data generator with the ``generate_if_missing``
      keyword arguments; :meth:`_palette` resolves ``metainfo['palette']``;
      :meth:`_img_data_prefix` checks an image-folder-only ``data_prefix``.
    - An empty dataset (with ``serialize_data``, the default) is a ValueError naming the file.
    - When the pipeline loads images, a missing image file is a FileNotFoundError at build time,
      naming the first one and the count (:meth:`check_image_files`).
    """

    METAINFO: dict = dict()
    #: whether ``filter_cfg``'s ``min_size`` applies (False where items may not know
    #: their image size; ``min_size`` is then ignored)
    filter_min_size: bool = True
    #: what :meth:`filter_data`'s log line calls the items
    filter_item_name: str = 'images'
    #: images skipped by :meth:`prepare_data` under ``on_invalid='skip'`` (in this process)
    num_skipped_images: int = 0

    @staticmethod
    def _img_data_prefix(data_prefix: Optional[Dict[str, str]]) -> Dict[str, str]:
        """``data_prefix`` for datasets whose only folder is ``img`` (default ``''``).

        Raises:
            ValueError: ``data_prefix`` is given without an ``'img'`` key.
        """
        if data_prefix is not None and 'img' not in data_prefix:
            raise ValueError(f"data_prefix must have an 'img' key (image folder), got {data_prefix}")
        return dict(img='') if data_prefix is None else dict(data_prefix)

    # ---------------------------------------------------------------- generation
    def _generate(self, ensure: Callable[..., Dict[str, str]]) -> Tuple[Dict[str, Any], Dict[str, str]]:
        """``ensure(**kwargs)``: ``kwargs`` = ``self.generate_if_missing``, ``root``
        defaulting to ``data_root``. Returns ``(kwargs, what ensure returned)``.

        Raises:
            ValueError: neither a ``root`` nor a ``data_root``.
        """
        kwargs = dict(self.generate_if_missing)
        kwargs.setdefault('root', self.data_root)
        if not kwargs['root']:
            raise ValueError('generate_if_missing needs a "root" (or a data_root)')
        return kwargs, ensure(**kwargs)

    # ------------------------------------------------------------------ metainfo
    def _palette(self, classes: Sequence[str]) -> List[Tuple[int, ...]]:
        """``metainfo['palette']`` (one colour per class, as int tuples) or
        :func:`default_palette`; ValueError when the given one has another length."""
        palette = self._metainfo.get('palette')
        if palette is None:
            palette = default_palette(len(classes))
        elif len(palette) != len(classes):
            raise ValueError(f'metainfo palette has {len(palette)} colours for {len(classes)} classes')
        return [tuple(int(v) for v in c) for c in palette]

    # ----------------------------------------------------------------- filtering
    def _filter_source(self) -> str:
        """The file or folder the filter log line names (``ann_file``)."""
        return self.ann_file

    def filter_data(self) -> List[dict]:
        """Apply ``filter_cfg`` (not in test mode); logs how many items were dropped."""
        check_known_keys(self.filter_cfg or {}, ('filter_empty_gt', 'min_size'), f'{type(self).__name__} filter_cfg')
        if self.test_mode or not self.filter_cfg:
            return self.data_list
        filter_empty = bool(self.filter_cfg.get('filter_empty_gt', False))
        min_size = self.filter_cfg.get('min_size', 0) if self.filter_min_size else None
        kept = [d for d in self.data_list
                if (not filter_empty or len(d['instances']['labels']) > 0)
                and (min_size is None or min(d['width'], d['height']) >= min_size)]
        if len(kept) != len(self.data_list):
            log(f'{self._filter_source()}: filter_cfg {self.filter_cfg} removed '
                f'{len(self.data_list) - len(kept)} of {len(self.data_list)} {self.filter_item_name}')
        return kept

    def _loads_images(self) -> bool:
        """Whether the pipeline reads image files (holds a ``Load*`` transform)."""
        transforms = getattr(getattr(self, 'pipeline', None), 'transforms', None) or []
        return any(type(t).__name__.startswith('Load') for t in transforms)

    def check_image_files(self) -> None:
        """When the pipeline loads images: every item's ``img_path`` exists (a wrong image folder
        fails when the dataset is built, not at the first iteration inside a worker).

        With ``on_invalid='skip'`` outside ``test_mode``, some missing files are a logged count
        (:meth:`prepare_data` skips each when it is drawn, counted); all of them missing still raises.

        Raises:
            FileNotFoundError: naming the first missing file and how many of how many are missing.
        """
        if not self._loads_images():
            return
        missing = [d['img_path'] for d in self.data_list if d.get('img_path') and not os.path.isfile(d['img_path'])]
        skipping = not self.test_mode and getattr(self, 'on_invalid', 'raise') == 'skip'
        if missing and skipping and len(missing) < len(self.data_list):
            log(f"{self._filter_source()}: {len(missing)} of {len(self.data_list)} image files do not exist, "
                f"the first: {missing[0]}; on_invalid='skip' skips each when it is drawn", logging.WARNING)
        elif missing:
            raise FileNotFoundError(
                f'{self._filter_source()}: {len(missing)} of {len(self.data_list)} image files do not exist, '
                f'the first: {missing[0]} (check data_root and data_prefix, the image folder)')

    def full_init(self) -> None:
        """mmengine's ``full_init`` (load, filter, subset, serialize); the image files are checked
        (:meth:`check_image_files`) on the final item list, before serializing."""
        if self._fully_initialized:
            return
        super().full_init()
        if not self.serialize_data:
            self.check_image_files()

    def _serialize_data(self) -> Tuple[Any, Any]:
        """mmengine's serialization, with a ValueError naming the file when there is no item
        (mmengine's own error there names nothing)."""
        if not self.data_list:
            raise ValueError(f'{self._filter_source()}: no {self.filter_item_name} (the file has none, or '
                             'the selection of classes or images, filter_cfg or indices removed them all)')
        self.check_image_files()
        return super()._serialize_data()

    # ------------------------------------------------------------------- samples
    def prepare_data(self, idx: int) -> Any:
        """``pipeline(data_info)`` where ``data_info`` also carries ``'metainfo'`` (a copy).

        An image file the pipeline cannot read (:class:`~centerx.data.transforms.loading.ImageFileError`:
        missing, unreadable, empty, truncated, not an image, of another size) raises, naming the
        file; with ``on_invalid='skip'`` outside ``test_mode`` it is a counted skip instead: this
        returns None (mmengine's ``__getitem__`` then draws another item, at most ``max_refetch``
        times), adds one to :attr:`num_skipped_images` and logs the file and the count of this
        process (each data-loader worker counts its own). In ``test_mode`` it always raises: an
        evaluation never leaves an image out.
        """
        data_info = self.get_data_info(idx)
        data_info['metainfo'] = self.metainfo
        try:
            return self.pipeline(data_info)
        except ImageFileError as err:
            if self.test_mode or getattr(self, 'on_invalid', 'raise') != 'skip':
                raise
            self.num_skipped_images += 1
            log(f"{type(self).__name__}: skipped {err} (on_invalid='skip'; {self.num_skipped_images} "
                'images skipped so far in this process)', logging.WARNING)
            return None

    def get_cat_ids(self, idx: int) -> List[int]:
        """Distinct class indices (labels) present in item ``idx`` (for class balancing)."""
        return sorted(set(int(v) for v in self.get_data_info(idx)['instances']['labels']))
