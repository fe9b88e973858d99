"""Reading and writing DOTA ``labelTxt`` annotation files.

File format (DOTA v1.0 / v1.5)::

    imagesource:GoogleEarth          <- optional header line
    gsd:0.146343590398               <- optional header line ("null"/"None" allowed)
    x1 y1 x2 y2 x3 y3 x4 y4 class difficult
    ...

``difficult`` is optional (defaults to 0, as in test-style files without it)
and must be 0, 1 or 2 (2 marks objects truncated by image splitting).
Coordinates are pixels and may be integers or decimals. Blank lines are
ignored; Windows line endings and a UTF-8 byte-order mark are accepted.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional, Sequence, Union

import numpy as np

from centerx.data.base_dataset import resolve_on_invalid

from .text_lines import numbered_lines

__all__ = [
    "DOTA_V1_CLASSES",
    "DOTA_V15_CLASSES",
    "DotaLabelError",
    "DotaLabelFile",
    "parse_dota_label_file",
    "write_dota_label_file",
]

PathLike = Union[str, os.PathLike]

DOTA_V1_CLASSES: tuple[str, ...] = (
    "plane",
    "baseball-diamond",
    "bridge",
    "ground-track-field",
    "small-vehicle",
    "large-vehicle",
    "ship",
    "tennis-court",
    "basketball-court",
    "storage-tank",
    "soccer-ball-field",
    "roundabout",
    "harbor",
    "swimming-pool",
    "helicopter",
)
"""The 15 DOTA v1.0 categories, in the official order (label index = position)."""

DOTA_V15_CLASSES: tuple[str, ...] = DOTA_V1_CLASSES + ("container-crane",)
"""The 16 DOTA v1.5 categories: v1.0 plus ``container-crane``."""

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_NULL_WORDS = {"null", "none", ""}
_HEADER_KEYS = ("imagesource", "gsd")


class DotaLabelError(ValueError):
    """A malformed line in a DOTA label file; the message names file, line number and text."""

    def __init__(self, path: PathLike, line_number: int, line: str, reason: str) -> None:
        self.path = str(path)
        self.line_number = line_number
        self.line = line
        self.reason = reason
        super().__init__(f"{self.path}:{line_number}: {reason}: {line!r}")


@dataclass
class DotaLabelFile:
    """Content of one DOTA label file with N objects.

    Attributes:
        polys: ``(N, 8)`` float32 quadrilaterals in pixels.
        labels: ``(N,)`` int64 indices into ``class_names``.
        difficult: ``(N,)`` bool, ``difficulty != 0`` (what the evaluation uses).
        difficulty: ``(N,)`` int64 raw flag 0, 1 or 2 (2 = truncated by splitting).
        class_names: the class list the labels index into.
        image_source: value of the ``imagesource:`` header, or None.
        gsd: ground sample distance from the ``gsd:`` header, or None.
        skipped: ``(line_number, reason)`` for each malformed line skipped with
            ``on_invalid='skip'`` (1-based line numbers).
    """

    polys: np.ndarray
    labels: np.ndarray
    difficult: np.ndarray
    class_names: list[str]
    image_source: Optional[str] = None
    gsd: Optional[float] = None
    skipped: list[tuple[int, str]] = field(default_factory=list)
    difficulty: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        if self.difficulty is None:
            self.difficulty = self.difficult.astype(np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def names(self) -> list[str]:
        """Class name of each object, ``(N,)`` list."""
        return [self.class_names[i] for i in self.labels.tolist()]


def _parse_header(key: str, value: str) -> tuple[str, Union[str, float, None]]:
    value = value.strip()
    if key == "imagesource":
        return key, (None if value.lower() in _NULL_WORDS else value)
    if value.lower() in _NULL_WORDS:
        return key, None
    gsd = float(value)  # ValueError -> reported by caller
    if not math.isfinite(gsd):
        raise ValueError("gsd is not finite")
    return key, gsd


def _parse_object(tokens: list[str], class_index: dict[str, int]) -> tuple[list[float], int, int]:
    """Parse one object line; raises ValueError with a short reason."""
    if len(tokens) not in (9, 10):
        raise ValueError(f"expected 9 or 10 fields (8 coordinates, class, [difficult]), got {len(tokens)}")
    coords = []
    for position, token in enumerate(tokens[:8], start=1):
        try:
            value = float(token)
        except ValueError:
            raise ValueError(f"non-numeric coordinate {token!r} (field {position})") from None
        if not math.isfinite(value):
            raise ValueError(f"non-finite coordinate {token!r} (field {position})")
        if abs(value) > _FLOAT32_MAX:
            raise ValueError(f"coordinate {token!r} beyond float32 range (field {position}; stored as float32)")
        coords.append(value)
    name = tokens[8]
    if name not in class_index:
        raise ValueError(f"unknown class {name!r}")
    difficulty = 0
    if len(tokens) == 10:
        if tokens[9] not in ("0", "1", "2"):
            raise ValueError(f"difficult must be 0, 1 or 2, got {tokens[9]!r}")
        difficulty = int(tokens[9])
    return coords, class_index[name], difficulty


def parse_dota_label_file(
    path: PathLike,
    classes: Sequence[str] = DOTA_V1_CLASSES,
    on_invalid: Literal["raise", "skip"] = "raise",
    on_error: Optional[str] = None,
) -> DotaLabelFile:
    """Parse a DOTA ``labelTxt`` file.

    Header lines ``imagesource:...`` and ``gsd:...`` (case-insensitive key) are
    recognised anywhere in the file; ``gsd`` may be ``null`` or ``None``.

    Args:
        path: the ``.txt`` file.
        classes: class names; ``labels`` are indices into this list.
        on_invalid: ``'raise'`` raises :class:`DotaLabelError` on the first
            malformed line; ``'skip'`` records ``(line_number, reason)`` in
            ``skipped`` and continues (the caller should log / count them).
        on_error: deprecated former name of ``on_invalid`` (``'raise'``/``'error'`` or
            ``'skip'``; None: not given); warns with a ``DeprecationWarning``, as the datasets'
            deprecated keywords do (:func:`~centerx.data.base_dataset.resolve_on_invalid`).

    Returns:
        A :class:`DotaLabelFile`.

    Raises:
        DotaLabelError: malformed line (not UTF-8 text or holding a NUL byte, wrong
            field count, non-numeric or non-finite coordinate or one beyond float32's
            range, unknown class, difficult not in {0, 1, 2}, bad gsd value, a second
            header of one key with another value) with ``on_invalid='raise'``.

    Repeated object lines are kept, each one an object (as the DOTA devkit reads them).
        ValueError: an unknown ``on_invalid`` / ``on_error``, or the two disagreeing.
    """
    on_invalid = resolve_on_invalid("parse_dota_label_file", on_invalid, on_error=on_error)
    class_index = {name: i for i, name in enumerate(classes)}
    headers: dict[str, Union[str, float, None]] = {}
    coords: list[list[float]] = []
    labels: list[int] = []
    difficulty: list[int] = []
    skipped: list[tuple[int, str]] = []
    for line_number, line, problem in numbered_lines(path):
        tokens = line.split()
        if not tokens and problem is None:
            continue
        try:
            if problem is not None:
                raise ValueError(problem)
            if ":" in tokens[0]:  # header line; object lines never contain ':'
                key, _, value = line.strip().partition(":")
                key = key.strip().lower()
                if key not in _HEADER_KEYS:
                    raise ValueError(f"unknown header {key!r}")
                k, v = _parse_header(key, value)
                if k in headers and headers[k] != v:
                    raise ValueError(f"second {k!r} header with another value (the first was {headers[k]!r})")
                headers[k] = v
                continue
            poly, label, diff = _parse_object(tokens, class_index)
        except ValueError as err:
            if on_invalid == "raise":
                raise DotaLabelError(path, line_number, line, str(err)) from None
            skipped.append((line_number, str(err)))
            continue
        coords.append(poly)
        labels.append(label)
        difficulty.append(diff)
    raw_difficulty = np.asarray(difficulty, dtype=np.int64)
    gsd = headers.get("gsd")
    return DotaLabelFile(
        polys=np.asarray(coords, dtype=np.float32).reshape(-1, 8),
        labels=np.asarray(labels, dtype=np.int64),
        difficult=raw_difficulty != 0,
        class_names=list(classes),
        image_source=headers.get("imagesource"),  # type: ignore[arg-type]
        gsd=None if gsd is None else float(gsd),
        skipped=skipped,
        difficulty=raw_difficulty,
    )


def _format_number(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def write_dota_label_file(
    path: PathLike,
    polys: np.ndarray,
    class_names: Sequence[str],
    difficult: Optional[np.ndarray] = None,
    image_source: Optional[str] = None,
    gsd: Optional[float] = None,
    decimals: int = 2,
) -> Path:
    """Write a DOTA ``labelTxt`` file.

    Args:
        path: output ``.txt`` (parent directories are created).
        polys: ``(N, 8)`` polygons in pixels.
        class_names: ``N`` class names, one per object (no whitespace).
        difficult: ``(N,)`` bool or int 0/1/2 (written as an integer); None = 0.
        image_source: written as ``imagesource:<value>`` when not None.
        gsd: written as ``gsd:<value>`` when not None.
        decimals: coordinate decimals (trailing zeros are dropped, so integer
            coordinates are written as integers).

    Returns:
        The written path.
    """
    polys = np.asarray(polys, dtype=np.float64).reshape(-1, 8)
    n = len(polys)
    if len(class_names) != n:
        raise ValueError(f"need one class name per polygon ({n}), got {len(class_names)}")
    diff = np.zeros(n, dtype=np.int64) if difficult is None else np.asarray(difficult).astype(np.int64)
    if diff.shape != (n,):
        raise ValueError(f"difficult must have shape ({n},), got {diff.shape}")
    if np.any((diff < 0) | (diff > 2)):
        raise ValueError("difficult values must be 0, 1 or 2")
    for name in set(class_names):
        if not name or any(ch.isspace() for ch in name):
            raise ValueError(f"invalid class name {name!r}")
    lines: list[str] = []
    if image_source is not None:
        lines.append(f"imagesource:{image_source}")
    if gsd is not None:
        lines.append(f"gsd:{gsd!r}")
    for poly, name, d in zip(polys.tolist(), class_names, diff.tolist()):
        coords = " ".join(_format_number(v, decimals) for v in poly)
        lines.append(f"{coords} {name} {d}")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return out
