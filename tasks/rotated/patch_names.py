"""DOTA-devkit patch names: ``<image>__<rate>__<x0>___<y0>`` (e.g. ``P0706__1__0___0``).

``rate`` is the resize factor applied to the full image before cutting and
``(x0, y0)`` the top-left corner of the patch in the *resized* image.
A patch coordinate ``p`` maps back to the original image as ``(p + x0) / rate``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["PatchName", "format_rate", "format_patch_name", "parse_patch_name"]

_PATCH_NAME = re.compile(r"^(?P<image>.+)__(?P<rate>\d+(?:\.\d+)?)__(?P<x0>\d+)___(?P<y0>\d+)$")


@dataclass(frozen=True)
class PatchName:
    """A parsed patch name."""

    image: str
    rate: float
    x0: int
    y0: int

    def __str__(self) -> str:
        return format_patch_name(self.image, self.rate, self.x0, self.y0)


def format_rate(rate: float) -> str:
    """Rate as written in patch names: ``1`` for 1.0, ``0.5``, ``1.5``.

    Shortest positional decimal that reads back to the same float.
    """
    if not rate > 0:
        raise ValueError(f"rate must be positive, got {rate}")
    return np.format_float_positional(float(rate), trim="-")


def format_patch_name(image: str, rate: float, x0: int, y0: int) -> str:
    """``<image>__<rate>__<x0>___<y0>`` (no file extension)."""
    return f"{image}__{format_rate(rate)}__{int(x0)}___{int(y0)}"


def parse_patch_name(name: str) -> PatchName:
    """Parse ``<image>__<rate>__<x0>___<y0>``; a trailing file extension and directories are ignored.

    Raises:
        ValueError: the name does not follow the pattern.
    """
    stem = name.replace("\\", "/").rsplit("/", 1)[-1]
    match = _PATCH_NAME.match(stem)
    if match is None and "." in stem:
        match = _PATCH_NAME.match(stem.rsplit(".", 1)[0])
    if match is None:
        raise ValueError(f"not a patch name of the form <image>__<rate>__<x0>___<y0>: {name!r}")
    return PatchName(
        image=match["image"],
        rate=float(match["rate"]),
        x0=int(match["x0"]),
        y0=int(match["y0"]),
    )
