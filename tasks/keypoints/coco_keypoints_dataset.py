"""COCO person-keypoints dataset (annotations only; images are read by a transform).

A :class:`~centerx.data.coco_format.CocoFormatDataset` whose instances also carry
keypoints. Each item of :meth:`CocoKeypointsDataset.load_data_list` is::

    {'img_path': str, 'img_id': int, 'height': int, 'width': int,
     'instances': {'bboxes': float32 (N, 4) xyxy in original-image pixels,
                   'labels': int64 (N,) index into metainfo['classes'],
                   'ignore': bool (N,) (COCO iscrowd=1 -> True),
                   'keypoints': float32 (N, K, 3) (x, y, v) in original-image pixels}}

``v`` is COCO's visibility flag: 0 unlabeled (its x, y are kept as written -- COCO
writes 0, 0 -- and mean nothing), 1 labeled but occluded, 2 labeled and visible.
Persons without any labeled keypoint are kept (they still train the center and box).
Instances of a selected category whose json category has no ``keypoints`` list get
all-unlabeled keypoints.

``metainfo`` holds, besides ``classes``, ``cat_ids``, ``palette`` and ``ann_file``
(see :mod:`centerx.data.coco_format`):

- ``keypoint_names``: tuple of the K names, from the json category's ``keypoints``;
- ``skeleton``: list of ``[i, j]`` 0-based limbs (the json's ``skeleton`` is 1-based);
- ``flip_pairs``: list of ``[i_left, i_right]`` swapped by a horizontal flip, matched
  by name (``left_*``/``right_*``, see :func:`~centerx_tasks.keypoints.coco_meta.derive_flip_pairs`);
- ``sigmas``: list of K OKS sigmas: the official COCO values when the names are the
  17 COCO person keypoints, otherwise :data:`~centerx_tasks.keypoints.coco_meta.DEFAULT_SIGMA`
  (0.07) for every keypoint.

``metainfo`` given to the constructor may set ``flip_pairs``, ``skeleton`` (0-based)
and ``sigmas`` to override these, and ``keypoint_names`` to assert the json's names.
Every sample handed to the pipeline carries ``'metainfo'`` (a copy of the dataset's
metainfo) so geometric transforms can swap the flip pairs.
"""
from __future__ import annotations

import logging
import math
import os
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log

from centerx.data.coco_format import CocoFormatDataset, float32_box, is_number
from centerx.registry import DATASETS
from centerx_tasks.keypoints.coco_meta import (COCO_KEYPOINT_NAMES, COCO_SIGMAS, DEFAULT_SIGMA, derive_flip_pairs,
                                       sided_name)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_pairs(pairs: Any, num_keypoints: int, what: str, base: int = 0,
                disjoint: bool = False) -> List[List[int]]:
    """Validate a list of index pairs; return them 0-based as ``[[i, j], ...]``.

    Args:
        pairs: sequence of 2-sequences of ints in ``[base, base + num_keypoints)``.
        num_keypoints: K.
        what: name used in error messages.
        base: 1 for the json's 1-based skeleton, 0 otherwise.
        disjoint: every index at most once (flip pairs), and ``i != j``.

    Raises:
        ValueError: naming ``what`` and the offending pair.
    """
    if not isinstance(pairs, (list, tuple)):
        raise ValueError(f'{what} must be a list of [i, j] index pairs, got {pairs!r}')
    out, seen = [], set()
    for pair in pairs:
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(_is_int(v) for v in pair)
                or not all(base <= v < base + num_keypoints for v in pair)):
            raise ValueError(f'{what}: {pair!r} is not a pair of {"1" if base else "0"}-based keypoint '
                             f'indices in [{base}, {base + num_keypoints - 1}]')
        i, j = int(pair[0]) - base, int(pair[1]) - base
        if disjoint:
            if i == j or i in seen or j in seen:
                raise ValueError(f'{what}: pair {list(pair)!r} pairs an index with itself or '
                                 'reuses an index of another pair')
            seen.update((i, j))
        out.append([i, j])
    return out


@DATASETS.register_module()
class CocoKeypointsDataset(CocoFormatDataset):
    """Person (or any category) keypoint dataset read from a COCO keypoints json.

    Arguments are those of :class:`~centerx.data.coco_format.CocoFormatDataset`, except:

    Args:
        metainfo: as there, plus optional ``flip_pairs``, ``skeleton``
            (0-based), ``sigmas`` and ``keypoint_names`` (see the module docstring).
        generate_if_missing: when ``ann_file`` does not exist, call
            :func:`centerx_tasks.keypoints.synthetic.ensure_synthetic_poses` with these keyword
            arguments first (``root`` defaults to ``data_root``).

    Raises ``ValueError`` naming the file and the annotation id on malformed keypoints:
    not a list of 3K finite numbers, or a visibility flag other than 0, 1, 2; a
    non-crowd annotation of a keypoint category without ``keypoints``. The selected
    categories that define ``keypoints`` must all have the same names (at least one).
    ``num_keypoints`` of an annotation is not read (it need not be consistent).
    """

    # ------------------------------------------------------------------ loading
    def _generate_missing(self) -> None:
        """Generate the synthetic pose set; error when it did not write ``ann_file``."""
        from centerx_tasks.keypoints.synthetic import ensure_synthetic_poses
        kwargs, paths = self._generate(ensure_synthetic_poses)
        if not os.path.isfile(self.ann_file):
            raise FileNotFoundError(
                f'COCO keypoint file {self.ann_file} does not exist, and generate_if_missing '
                f'{kwargs} made {paths["train_ann_file"]} and {paths["val_ann_file"]} instead')

    def _read_json(self) -> dict:
        """Load (parent) and keep the json for :meth:`load_data_list`."""
        data = super()._read_json()
        self._json_data: Optional[dict] = data
        return data

    def _keypoint_categories(self, cat_ids: Sequence[int]) -> List[dict]:
        """The selected json categories that define ``keypoints`` (validated, same names)."""
        f = self.ann_file
        cats = {c['id']: c for c in self._json_data['categories']}
        found = []
        for cid in cat_ids:
            cat = cats[cid]
            if 'keypoints' not in cat:
                continue
            names = cat['keypoints']
            if (not isinstance(names, (list, tuple)) or not names
                    or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names)):
                raise ValueError(f'{f}: category id {cid} ({cat["name"]!r}): "keypoints" must be a '
                                 f'non-empty list of distinct names, got {names!r}')
            if found and list(names) != list(found[0]['keypoints']):
                raise ValueError(f'{f}: categories {found[0]["name"]!r} and {cat["name"]!r} have '
                                 'different keypoint lists; select classes sharing one '
                                 '(metainfo=dict(classes=(...)))')
            check_pairs(cat.get('skeleton', []), len(names),
                        f'{f}: category id {cid} ({cat["name"]!r}) skeleton', base=1)
            found.append(cat)
        if not found:
            names = [cats[c]['name'] for c in cat_ids]
            raise ValueError(f'{f}: none of the selected categories {names} defines "keypoints" '
                             '(is this a COCO keypoints json?)')
        return found

    def _update_metainfo(self, classes: Tuple[str, ...], cat_ids: Tuple[int, ...]) -> None:
        super()._update_metainfo(classes, cat_ids)
        first = self._keypoint_categories(cat_ids)[0]
        names = tuple(first['keypoints'])
        k = len(names)
        meta = self._metainfo
        f = self.ann_file
        if 'keypoint_names' in meta and tuple(meta['keypoint_names']) != names:
            raise ValueError(f'{f}: metainfo keypoint_names {tuple(meta["keypoint_names"])} differ '
                             f'from the file\'s {names}')
        if meta.get('skeleton') is not None:
            skeleton = check_pairs(meta['skeleton'], k, 'metainfo skeleton')
        else:
            skeleton = check_pairs(first.get('skeleton', []), k, f'{f}: skeleton', base=1)
        if meta.get('flip_pairs') is not None:
            flip_pairs = check_pairs(meta['flip_pairs'], k, 'metainfo flip_pairs', disjoint=True)
        else:
            flip_pairs = derive_flip_pairs(names)
            paired = {i for pair in flip_pairs for i in pair}
            unpaired = [n for i, n in enumerate(names) if i not in paired and sided_name(n)]
            if unpaired:
                print_log(f'{f}: keypoints {unpaired} name a side but have no partner; a horizontal '
                          'flip leaves them in place (set metainfo flip_pairs to override)',
                          logger='current', level=logging.WARNING)
        if meta.get('sigmas') is not None:
            given = meta['sigmas']
            sigmas: List[float] = []
            if isinstance(given, (list, tuple, np.ndarray)) and len(given) == k:
                try:
                    sigmas = [float(s) for s in given if not isinstance(s, (bool, str))]
                except (TypeError, ValueError):
                    sigmas = []
            if len(sigmas) != k or not all(math.isfinite(s) and s > 0 for s in sigmas):
                raise ValueError(f'metainfo sigmas must be {k} positive numbers (one per keypoint '
                                 f'{names}), got {given!r}')
        elif names == COCO_KEYPOINT_NAMES:
            sigmas = list(COCO_SIGMAS)
        else:
            sigmas = [DEFAULT_SIGMA] * k
            print_log(f'{f}: no metainfo sigmas for the keypoints {names}; using {DEFAULT_SIGMA} '
                      'for each (OKS of the keypoint metric)', logger='current')
        meta.update(keypoint_names=names, skeleton=skeleton, flip_pairs=flip_pairs, sigmas=sigmas)

    def _parse_keypoints(self, ann: dict, cat: dict, k: int) -> np.ndarray:
        """(K, 3) float32 keypoints of one annotation (all unlabeled if its category has none)."""
        out = np.zeros((k, 3), np.float32)
        if 'keypoints' not in cat:
            return out
        f, aid, iid = self.ann_file, ann['id'], ann['image_id']
        values = ann.get('keypoints')
        if values is None:
            if ann.get('iscrowd', 0):
                return out
            raise ValueError(f'{f}: annotation id {aid} (image id {iid}) of category {cat["name"]!r} '
                             f'has no "keypoints" (expected {3 * k} numbers x1, y1, v1, ...)')
        if not isinstance(values, (list, tuple)) or len(values) != 3 * k:
            got = f'length {len(values)}' if isinstance(values, (list, tuple)) else repr(values)
            raise ValueError(f'{f}: annotation id {aid} (image id {iid}): "keypoints" must be a list '
                             f'of 3 * {k} = {3 * k} numbers [x1, y1, v1, ...], got {got}')
        for pos, v in enumerate(values):
            if not (is_number(v) and math.isfinite(v)):
                raise ValueError(f'{f}: annotation id {aid} (image id {iid}): "keypoints" value '
                                 f'{v!r} at position {pos} is not a finite number')
        arr = np.asarray(values, np.float64).reshape(k, 3)
        beyond = np.abs(arr) > np.finfo(np.float32).max
        if beyond.any():
            pos = int(np.flatnonzero(beyond.reshape(-1))[0])
            raise ValueError(f'{f}: annotation id {aid} (image id {iid}): "keypoints" value '
                             f'{values[pos]!r} at position {pos} is beyond the float32 range')
        bad = ~np.isin(arr[:, 2], (0.0, 1.0, 2.0))
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise ValueError(f'{f}: annotation id {aid} (image id {iid}): visibility of keypoint '
                             f'{j} ({cat["keypoints"][j]!r}) is {values[3 * j + 2]!r}; COCO flags are '
                             '0 (unlabeled), 1 (labeled, occluded), 2 (visible)')
        out[:] = arr
        return out

    def load_data_list(self) -> List[dict]:
        """Parse the json into one dict per image (see the module docstring)."""
        data_list = super().load_data_list()  # validates records, boxes, classes; sets metainfo
        data, self._json_data = self._json_data, None
        meta = self._metainfo
        k = len(meta['keypoint_names'])
        label_of = {cid: i for i, cid in enumerate(meta['cat_ids'])}
        cats = {c['id']: c for c in data['categories']}
        by_image: Dict[Any, List[dict]] = defaultdict(list)
        for ann in data['annotations']:  # the order of pycocotools' imgToAnns
            by_image[ann['image_id']].append(ann)
        for img, item in zip(data['images'], data_list):
            kept = []
            for ann in by_image.get(img['id'], []):
                if ann['category_id'] not in label_of:
                    continue
                if float32_box(ann['bbox']) is None:
                    continue  # the parent skipped it (on_invalid='skip') or raised
                kept.append(self._parse_keypoints(ann, cats[ann['category_id']], k))
            instances = item['instances']
            if len(kept) != len(instances['labels']):  # pragma: no cover - parent changed
                raise RuntimeError(f'{self.ann_file}: image id {img["id"]}: {len(kept)} keypoint '
                                   f'sets for {len(instances["labels"])} instances')
            instances['keypoints'] = np.asarray(kept, np.float32).reshape(-1, k, 3)
        return data_list
