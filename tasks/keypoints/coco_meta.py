"""COCO person keypoints: names, left/right flip pairs, skeleton and OKS sigmas.

All indices are 0-based (the COCO json's ``skeleton`` is 1-based; see
:data:`COCO_PERSON_CATEGORY` for the json form). Pure Python, no dependencies.
"""
from __future__ import annotations

import re
from typing import Dict, List, Sequence, Tuple

#: The 17 COCO person keypoints, in the order of the COCO json's ``keypoints``.
COCO_KEYPOINT_NAMES: Tuple[str, ...] = (
    'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'left_hip', 'right_hip',
    'left_knee', 'right_knee', 'left_ankle', 'right_ankle')

#: ``[left index, right index]`` pairs swapped by a horizontal flip.
COCO_FLIP_PAIRS: Tuple[Tuple[int, int], ...] = (
    (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))

#: Limbs, 0-based (the COCO json's 1-based ``skeleton`` minus one), same order.
COCO_SKELETON: Tuple[Tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
    (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4),
    (3, 5), (4, 6))

#: Per-keypoint OKS sigmas of the official COCO keypoint evaluation
#: (``pycocotools.cocoeval.Params.setKpParams``).
COCO_SIGMAS: Tuple[float, ...] = (.026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062,
                                  .107, .107, .087, .087, .089, .089)

#: Sigma given to every keypoint of a non-COCO keypoint set when the dataset's
#: metainfo has no ``sigmas`` (about the mean of :data:`COCO_SIGMAS`, 0.067).
DEFAULT_SIGMA: float = 0.07

#: The COCO json ``categories`` entry of a person-keypoints file (1-based skeleton).
COCO_PERSON_CATEGORY: Dict = dict(
    id=1, name='person', supercategory='person', keypoints=list(COCO_KEYPOINT_NAMES),
    skeleton=[[a + 1, b + 1] for a, b in COCO_SKELETON])

_SIDE = re.compile(r'(?<![^\W_])(left|right)(?![^\W_])', re.IGNORECASE)  # not inside a word


def _mirror_name(name: str) -> str | None:
    """``'left_knee' -> 'right_knee'`` (also ``eye_left``, ``Left-Eye`` ...); None without a side word."""
    matches = list(_SIDE.finditer(name))
    if len(matches) != 1:
        return None
    m = matches[0]
    side = m.group(1)
    other = {'left': 'right', 'right': 'left'}[side.lower()]
    if side.isupper():
        other = other.upper()
    elif side[0].isupper():
        other = other.capitalize()
    return name[:m.start(1)] + other + name[m.end(1):]


def sided_name(name: str) -> bool:
    """Whether ``name`` contains the word ``left`` or ``right`` (as :func:`derive_flip_pairs` reads it)."""
    return _SIDE.search(str(name)) is not None


def derive_flip_pairs(names: Sequence[str]) -> List[List[int]]:
    """Left/right pairs of a keypoint list, matched by name.

    A name containing exactly one word ``left`` or ``right`` (any case, not part of
    a longer alphanumeric word: ``_``, ``-``, ``.``, spaces ... separate words) is paired with the name that
    has the other side word at the same place: ``left_eye``/``right_eye``,
    ``paw_left_front``/``paw_right_front``. Names without a partner stay in place.

    Returns:
        ``[[i_left, i_right], ...]`` sorted by ``i_left`` (0-based indices).
    """
    index = {str(n): k for k, n in enumerate(names)}
    pairs = []
    for k, name in enumerate(names):
        mirrored = _mirror_name(str(name))
        if mirrored is None or mirrored not in index:
            continue
        j = index[mirrored]
        m = _SIDE.search(str(name))
        if m is not None and m.group(1).lower() == 'left' and j != k:
            pairs.append([k, j])
    return sorted(pairs)

