"""DOTA task-1 result files: ``Task1_<classname>.txt``.

One file per class; one line per detection::

    <imagename> <score> <x1> <y1> <x2> <y2> <x3> <y3> <x4> <y4>

The same layout holds patch-level results (``imagename`` = patch name) before
merging with :mod:`centerx_tasks.rotated.merge`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Mapping, Optional, Sequence, Union

import numpy as np

from .text_lines import numbered_lines

__all__ = ["Task1Detections", "write_task1_submission", "read_task1_detections", "read_task1_submission"]

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

    Raises:
        ValueError: whitespace in an image id, a class index out of range, or a non-finite
            value (naming image, class and row: the devkit would read it as ``nan``).

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
            if not np.isfinite(arr).all():
                row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
                raise ValueError(f"image {image_id!r} class {cls}: detection {row} is not finite: {arr[row].tolist()}")
            for row in arr.tolist():
                coords = " ".join(f"{v:.{decimals}f}" for v in row[:8])
                lines[int(cls)].append(f"{image_id} {row[8]:.8g} {coords}\n")
    paths = []
    for name, class_lines in zip(class_names, lines):
        path = out / f"Task1_{name}.txt"
        path.write_text("".join(class_lines), encoding="utf-8")
        paths.append(path)
    return paths


@dataclass
class Task1Detections:
    """Detections of ``Task1_<class>.txt`` files, flat and in file order (D rows).

    The order matters: the devkit ranks a class's detections with
    ``np.argsort(-confidence)`` over its file's lines, so equal scores are ranked by
    their position in the file; :func:`~centerx_tasks.rotated.dota_eval.eval_dota`
    given this object reproduces that order exactly.

    Attributes:
        image_ids: ``D`` image (or patch) names.
        polys: ``(D, 8)`` float64 polygons.
        scores: ``(D,)`` float64.
        labels: ``(D,)`` int64 class indices; classes in class order, lines in file order.
        skipped: ``(path, line_number, reason)`` of each line skipped with ``on_invalid='skip'``.
    """

    image_ids: list[str]
    polys: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    skipped: list[tuple[str, int, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.image_ids)

    def nested(self) -> dict[str, dict[int, np.ndarray]]:
        """``{image_id: {class_index: (K, 9)}}``, images in first-appearance order, rows in file order."""
        rows = np.concatenate([self.polys, self.scores[:, None]], axis=1)
        out: dict[str, dict[int, list[int]]] = {}
        for index, (name, cls) in enumerate(zip(self.image_ids, self.labels.tolist())):
            out.setdefault(name, {}).setdefault(cls, []).append(index)
        return {name: {cls: rows[idx] for cls, idx in per_class.items()} for name, per_class in out.items()}


def _line_error(tokens: list[str]) -> Optional[str]:
    """Why a Task1 line is invalid (None if valid)."""
    if len(tokens) != 10:
        return f"expected 10 fields (image score x1 y1 ... x4 y4), got {len(tokens)}"
    for position, token in enumerate(tokens[1:], start=2):
        try:
            value = float(token)
        except ValueError:
            return f"non-numeric value {token!r} (field {position})"
        if not math.isfinite(value):
            return f"non-finite value {token!r} (field {position})"
    return None


def _read_class_file(
    path: Path, on_invalid: str, skipped: list[tuple[str, int, str]]
) -> tuple[list[str], np.ndarray]:
    """Valid lines of one Task1 file: ``(image names, (K, 9) values score x1 .. y4)``."""
    lines = [(n, text, problem) for n, text, problem in numbered_lines(path) if problem or text.split()]
    numbered = [(n, text.split()) for n, text, _ in lines]
    try:
        if any(problem for _, _, problem in lines) or any(len(tokens) != 10 for _, tokens in numbered):
            raise ValueError("field count")
        values = np.array([tokens[1:] for _, tokens in numbered], dtype=np.float64).reshape(-1, 9)
        bad = ~np.isfinite(values).all(axis=1)
    except ValueError:
        values, bad = None, None
    if values is not None and not bad.any():
        return [tokens[0] for _, tokens in numbered], values
    kept: list[tuple[int, list[str]]] = []
    for line_number, text, problem in lines:  # slow path: name the bad lines
        tokens = text.split()
        reason = problem or _line_error(tokens)
        if reason is None:
            kept.append((line_number, tokens))
        elif on_invalid == "raise":
            raise ValueError(f"{path}:{line_number}: {reason}: {(text if problem else ' '.join(tokens))!r}")
        else:
            skipped.append((str(path), line_number, reason))
    values = np.array([tokens[1:] for _, tokens in kept], dtype=np.float64).reshape(-1, 9)
    return [tokens[0] for _, tokens in kept], values


def read_task1_detections(
    in_dir: PathLike, class_names: Sequence[str], on_invalid: Literal["raise", "skip"] = "raise"
) -> Task1Detections:
    """Read ``Task1_<class>.txt`` files into flat arrays in file order (missing file = no detections).

    Args:
        in_dir: folder with the result files.
        class_names: the C class names (class index = position).
        on_invalid: ``'raise'``: a line that is not UTF-8 text (or holds a NUL byte), without
            exactly 10 fields, with a non-numeric value or a non-finite one (``nan``, ``inf``,
            a number beyond float64) raises ``ValueError`` naming file and line;
            ``'skip'``: such lines are left out and listed in ``skipped`` (count them).

    Returns:
        :class:`Task1Detections`.
    """
    if on_invalid not in ("raise", "skip"):
        raise ValueError(f"read_task1_detections: on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
    names: list[str] = []
    values: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    skipped: list[tuple[str, int, str]] = []
    for cls, name in enumerate(class_names):
        path = Path(in_dir) / f"Task1_{name}.txt"
        if not path.exists():
            continue
        images, rows = _read_class_file(path, on_invalid, skipped)
        names.extend(images)
        values.append(rows)
        labels.append(np.full(len(rows), cls, dtype=np.int64))
    table = np.concatenate(values) if values else np.zeros((0, 9))
    return Task1Detections(
        image_ids=names,
        polys=table[:, 1:9].copy(),
        scores=table[:, 0].copy(),
        labels=np.concatenate(labels) if labels else np.zeros(0, np.int64),
        skipped=skipped,
    )


def read_task1_submission(in_dir: PathLike, class_names: Sequence[str]) -> dict[str, dict[int, np.ndarray]]:
    """Read ``Task1_<class>.txt`` files as ``{image_id: {class_index: (K, 9) float64}}``.

    Rows keep file order, images their first appearance. A malformed or non-finite line
    raises ``ValueError`` naming file and line; :func:`read_task1_detections` can skip and
    count such lines instead, and gives the flat form that reproduces the devkit's ranking
    of equal scores exactly.
    """
    return read_task1_detections(in_dir, class_names, "raise").nested()
