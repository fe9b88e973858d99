"""DOTA task-1 result files: ``Task1_<classname>.txt``.

One file per class; one line per detection::

    <imagename> <score> <x1> <y1> <x2> <y2> <x3> <y3> <x4> <y4>

The same layout holds patch-level results (``imagename`` = patch name) before
merging with :mod:`centerx_tasks.rotated.merge`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence, Union

import numpy as np

__all__ = ["write_task1_submission", "read_task1_submission"]

PathLike = Union[str, os.PathLike]


def write_task1_submission(
    out_dir: PathLike,
    dets: Mapping[str, Mapping[int, np.ndarray]],
    class_names: Sequence[str],
    decimals: int = 2,
) -> list[Path]:
    """Write one ``Task1_<class>.txt`` per class (empty files included, as the server expects).

    Args:
        out_dir: output folder (created).
        dets: ``{image_id: {class_index: (K, 9)}}``, rows ``x1 y1 ... x4 y4 score``.
        class_names: the C class names; file ``i`` holds class index ``i``.
        decimals: coordinate decimals (scores are written with 8 significant digits).

    Returns:
        The C written paths, in class order.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines: list[list[str]] = [[] for _ in class_names]
    for image_id, per_class in dets.items():
        if any(ch.isspace() for ch in image_id):
            raise ValueError(f"image id must not contain whitespace: {image_id!r}")
        for cls, arr in per_class.items():
            if not 0 <= int(cls) < len(class_names):
                raise ValueError(f"class index {cls} out of range for {len(class_names)} classes")
            arr = np.asarray(arr, dtype=np.float64).reshape(-1, 9)
            for row in arr.tolist():
                coords = " ".join(f"{v:.{decimals}f}" for v in row[:8])
                lines[int(cls)].append(f"{image_id} {row[8]:.8g} {coords}\n")
    paths = []
    for name, class_lines in zip(class_names, lines):
        path = out / f"Task1_{name}.txt"
        path.write_text("".join(class_lines), encoding="utf-8")
        paths.append(path)
    return paths


def read_task1_submission(
    in_dir: PathLike, class_names: Sequence[str]
) -> dict[str, dict[int, np.ndarray]]:
    """Read ``Task1_<class>.txt`` files (missing files = no detections of that class).

    Args:
        in_dir: folder with the result files.
        class_names: the C class names (class index = position).

    Returns:
        ``{image_id: {class_index: (K, 9) float64}}`` in file order.

    Raises:
        ValueError: a line without exactly 10 fields or with non-numeric values
            (message names file and line).
    """
    out: dict[str, dict[int, np.ndarray]] = {}
    for cls, name in enumerate(class_names):
        path = Path(in_dir) / f"Task1_{name}.txt"
        if not path.exists():
            continue
        rows = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
        numbered = [(i + 1, r) for i, r in enumerate(rows) if r]
        for line_number, r in numbered:
            if len(r) != 10:
                raise ValueError(f"{path}:{line_number}: expected 10 fields, got {len(r)}")
        if not numbered:
            continue
        try:
            values = np.array([r[1:] for _, r in numbered], dtype=np.float64)
        except ValueError as err:
            raise ValueError(f"{path}: non-numeric value ({err})") from None
        values = values[:, [1, 2, 3, 4, 5, 6, 7, 8, 0]]  # -> poly8 + score
        images = np.array([r[0] for _, r in numbered])
        names, inverse = np.unique(images, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.flatnonzero(np.diff(inverse[order])) + 1
        for chunk in np.split(order, bounds):
            out.setdefault(str(names[inverse[chunk[0]]]), {})[cls] = values[chunk]
    return out
