"""How keypoints move under image-space affine warps, flips included.

A keypoint set is an (N, K, 3) array of ``(x, y, v)`` per object and joint, in pixels,
``v`` the COCO visibility (0 unlabeled, 1 labeled but occluded, 2 visible). Every
``(x, y)`` is warped exactly by the 3x3 matrix; ``v`` is left as it is. A horizontal flip
also swaps the joints of every left/right pair (``flip_pairs`` of the dataset metainfo),
so that after the flip the joint called ``left_wrist`` is the mirrored right wrist, as a
person seen in the mirrored image has it. Nothing is clipped: the task decides which
keypoints are on its grid.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

from centerx.data import AnnotationKind, WarpContext
from centerx.data.geometry import apply_to_points
from centerx.registry import ANNOTATION_KINDS


def flip_permutation(num_keypoints: int, flip_pairs: Optional[Sequence[Sequence[int]]]) -> List[int]:
    """The joint permutation of a horizontal flip: ``perm[i] = j`` for every pair ``(i, j)``.

    ``new[:, k] = old[:, perm[k]]`` relabels the joints of a mirrored person; the
    permutation is its own inverse.

    Args:
        num_keypoints: K.
        flip_pairs: left/right index pairs (``[]`` for a keypoint set without pairs).

    Raises:
        ValueError: ``flip_pairs`` is None while K > 0, or a pair is malformed, out of
            range, pairs a joint with itself, or names a joint twice.
    """
    if flip_pairs is None:
        if num_keypoints == 0:
            return []
        raise ValueError(f'flipping {num_keypoints} keypoints needs flip_pairs (the left/right joint '
                         'pairs) in the dataset metainfo; a keypoint set with no left/right pairs must '
                         'declare flip_pairs=[] explicitly')
    perm = list(range(num_keypoints))
    seen = set()
    for pair in flip_pairs:
        pair = [int(v) for v in pair]
        if len(pair) != 2:
            raise ValueError(f'flip_pairs entries must be [i, j] pairs, got {pair}')
        i, j = pair
        if not (0 <= i < num_keypoints and 0 <= j < num_keypoints):
            raise ValueError(f'flip pair {pair} is out of range for {num_keypoints} keypoints')
        if i == j or i in seen or j in seen:
            raise ValueError(f'flip pair {pair}: a joint may appear in at most one pair, and not with '
                             f'itself (flip_pairs={[list(p) for p in flip_pairs]})')
        seen.update((i, j))
        perm[i], perm[j] = j, i
    return perm


@ANNOTATION_KINDS.register_module(name='keypoints')
class KeypointKind(AnnotationKind):
    """(N, K, 3) keypoints ``(x, y, v)``: points warped exactly, visibility kept, flip pairs swapped.

    Raises:
        ValueError: on a flip (``ctx.flip``) of K > 0 keypoints when ``ctx.metainfo`` has no
            ``flip_pairs``, or on malformed pairs; on values that are not (N, K, 3).
    """

    def warp(self, values: np.ndarray, matrix: np.ndarray, ctx: WarpContext) -> np.ndarray:
        values = np.asarray(values, dtype=np.float32)
        if values.ndim != 3 or values.shape[2] != 3:
            if values.size == 0:  # an image without objects, packed without its K
                num = len(ctx.metainfo.get('keypoint_names', ()))
                return np.zeros((0, num, 3), np.float32)
            raise ValueError(f'keypoints must be an (N, K, 3) array of (x, y, v), got shape {values.shape}')
        out = values.copy()
        out[..., :2] = apply_to_points(values[..., :2].astype(np.float64), np.asarray(matrix, np.float64))
        if ctx.flip:
            perm = flip_permutation(values.shape[1], ctx.metainfo.get('flip_pairs'))
            out = out[:, perm]
        return np.ascontiguousarray(out, dtype=np.float32)
