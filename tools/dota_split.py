#!/usr/bin/env python
"""Split DOTA images (and labels) into overlapping patches, DOTA-devkit style.

Example::

    python tools/dota_split.py --src data/DOTA/train --dst data/DOTA/split_1024/train \
        --patch-size 1024 --gap 200 --rates 1.0 --workers 8

Reads ``<src>/images/*.png`` and, when present, ``<src>/labelTxt/<name>.txt``;
writes ``<dst>/images/<name>__<rate>__<x0>___<y0>.png`` and, for labelled
images, ``<dst>/labelTxt/<same>.txt``. Images without a label file (test set)
are split too. Rules: see ``tasks/rotated/split.py``.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from multiprocessing import Pool
from pathlib import Path
from typing import Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
from tqdm import tqdm  # noqa: E402

from centerx_tasks.rotated.dota_labels import (  # noqa: E402
    DOTA_V1_CLASSES,
    DOTA_V15_CLASSES,
    parse_dota_label_file,
    write_dota_label_file,
)
from centerx_tasks.rotated.split import SplitStats, split_image, split_stats  # noqa: E402

CLASS_SETS = {"v1.0": DOTA_V1_CLASSES, "v1.5": DOTA_V15_CLASSES}


def split_one(
    image_path: Path,
    label_dir: Path,
    dst: Path,
    classes: Sequence[str],
    patch_size: int,
    gap: int,
    rates: Sequence[float],
    iof_thr: float,
    skip_empty: bool,
) -> tuple[str, SplitStats, bool, list[tuple[int, str]]]:
    """Split one image at every rate; returns (name, stats, labelled, skipped label lines)."""
    name = image_path.stem
    img = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if img is None:
        raise RuntimeError(f"cannot read image {image_path}")
    label_path = label_dir / f"{name}.txt"
    labels = parse_dota_label_file(label_path, classes, on_invalid="skip") if label_path.exists() else None
    stats = SplitStats()
    for rate in rates:
        patches = split_image(
            img,
            None if labels is None else labels.polys,
            None if labels is None else labels.labels,
            None if labels is None else labels.difficulty,
            patch_size=patch_size,
            gap=gap,
            rate=rate,
            iof_thr=iof_thr,
        )
        if labels is not None and skip_empty:
            patches = [p for p in patches if len(p.labels)]
        for patch in patches:
            patch_name = patch.name(name)
            cv2.imwrite(str(dst / "images" / f"{patch_name}.png"), patch.image)
            if labels is not None:
                write_dota_label_file(
                    dst / "labelTxt" / f"{patch_name}.txt",
                    patch.polys,
                    [classes[i] for i in patch.labels.tolist()],
                    patch.difficulty,
                    image_source=labels.image_source,
                    gsd=None if labels.gsd is None else labels.gsd / rate,
                )
        stats = stats + split_stats(patches, 0 if labels is None else len(labels))
    stats.images = 1
    return name, stats, labels is not None, [] if labels is None else labels.skipped


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, required=True, help="folder with images/ and optionally labelTxt/")
    parser.add_argument("--dst", type=Path, required=True, help="output folder")
    parser.add_argument("--patch-size", type=int, default=1024)
    parser.add_argument("--gap", type=int, default=200, help="overlap between neighbouring patches")
    parser.add_argument("--rates", type=float, nargs="+", default=[1.0], help="resize factors, e.g. 0.5 1.0 1.5")
    parser.add_argument("--iof-thr", type=float, default=0.7, help="min kept fraction of a cut object")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--classes", choices=sorted(CLASS_SETS), default="v1.0")
    parser.add_argument("--img-ext", default=".png")
    parser.add_argument("--skip-empty", action="store_true", help="do not write labelled patches without objects")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> SplitStats:
    args = parse_args(argv)
    images = sorted((args.src / "images").glob(f"*{args.img_ext}"))
    if not images:
        raise SystemExit(f"no *{args.img_ext} images in {args.src / 'images'}")
    (args.dst / "images").mkdir(parents=True, exist_ok=True)
    if (args.src / "labelTxt").is_dir():
        (args.dst / "labelTxt").mkdir(parents=True, exist_ok=True)
    worker = partial(
        split_one,
        label_dir=args.src / "labelTxt",
        dst=args.dst,
        classes=CLASS_SETS[args.classes],
        patch_size=args.patch_size,
        gap=args.gap,
        rates=args.rates,
        iof_thr=args.iof_thr,
        skip_empty=args.skip_empty,
    )
    total = SplitStats()
    unlabelled = 0
    skipped_lines = 0
    progress = tqdm(total=len(images), desc="split", unit="img")
    if args.workers > 1:
        with Pool(args.workers) as pool:
            results = pool.imap_unordered(worker, images)
            for name, stats, labelled, skipped in results:
                total, unlabelled, skipped_lines = _account(
                    total, unlabelled, skipped_lines, name, stats, labelled, skipped, args.src
                )
                progress.update()
    else:
        for image in images:
            name, stats, labelled, skipped = worker(image)
            total, unlabelled, skipped_lines = _account(
                total, unlabelled, skipped_lines, name, stats, labelled, skipped, args.src
            )
            progress.update()
    progress.close()
    print(total.summary() + (" (object counts summed over rates)" if len(args.rates) > 1 else ""))
    print(f"rates {args.rates}, patch {args.patch_size}, gap {args.gap}, iof_thr {args.iof_thr}; "
          f"{unlabelled} images without labelTxt; {skipped_lines} malformed label lines skipped")
    return total


def _account(
    total: SplitStats,
    unlabelled: int,
    skipped_lines: int,
    name: str,
    stats: SplitStats,
    labelled: bool,
    skipped: list[tuple[int, str]],
    src: Path,
) -> tuple[SplitStats, int, int]:
    for line_number, reason in skipped:
        tqdm.write(f"warning: {src / 'labelTxt' / (name + '.txt')}:{line_number}: skipped ({reason})")
    return total + stats, unlabelled + (not labelled), skipped_lines + len(skipped)


if __name__ == "__main__":
    main()
