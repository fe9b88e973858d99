"""Disc-disc intersection over union in closed form (numpy, vectorized)."""
from __future__ import annotations

import numpy as np


def disc_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas of every pair of discs.

    With ``d`` the distance of the centers: 0 when ``d >= r1 + r2``; the smaller disc's
    area when ``d <= |r1 - r2|``; otherwise the lens area
    ``r1^2 acos((d^2 + r1^2 - r2^2) / (2 d r1)) + r2^2 acos((d^2 + r2^2 - r1^2) / (2 d r2))
    - sqrt((-d + r1 + r2)(d + r1 - r2)(d - r1 + r2)(d + r1 + r2)) / 2``.

    Args:
        a: (D, 3) discs ``(cx, cy, r)``; negative radii count as 0.
        b: (G, 3) discs.

    Returns:
        (D, G) float64 areas.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 3)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 3)
    r1 = np.maximum(a[:, None, 2], 0.0)
    r2 = np.maximum(b[None, :, 2], 0.0)
    d = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    contained = d <= np.abs(r1 - r2)
    disjoint = d >= r1 + r2
    lens = ~(contained | disjoint)
    d_safe = np.where(lens, d, 1.0)
    r1_safe = np.where(lens, r1, 1.0)
    r2_safe = np.where(lens, r2, 1.0)
    c1 = np.clip((d_safe ** 2 + r1_safe ** 2 - r2_safe ** 2) / (2 * d_safe * r1_safe), -1.0, 1.0)
    c2 = np.clip((d_safe ** 2 + r2_safe ** 2 - r1_safe ** 2) / (2 * d_safe * r2_safe), -1.0, 1.0)
    k = ((-d_safe + r1_safe + r2_safe) * (d_safe + r1_safe - r2_safe)
         * (d_safe - r1_safe + r2_safe) * (d_safe + r1_safe + r2_safe))
    lens_area = r1_safe ** 2 * np.arccos(c1) + r2_safe ** 2 * np.arccos(c2) - 0.5 * np.sqrt(np.maximum(k, 0.0))
    small = np.pi * np.minimum(r1, r2) ** 2
    return np.where(contained, small, np.where(lens, lens_area, 0.0))


def disc_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(D, G) IoU of discs ``a`` (D, 3) and ``b`` (G, 3); 0 where the union is empty."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 3)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 3)
    inter = disc_intersection(a, b)
    area_a = np.pi * np.maximum(a[:, 2], 0.0) ** 2
    area_b = np.pi * np.maximum(b[:, 2], 0.0) ** 2
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
