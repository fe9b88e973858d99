#!/usr/bin/env python
"""Merge patch-level DOTA task-1 results into full-image results (polygon NMS).

Example::

    python tools/dota_merge.py --src work_dirs/exp/patch_results --dst work_dirs/exp/Task1 \
        [--iou-thr 0.1] [--gt data/DOTA/val/labelTxt]

``--src`` holds ``Task1_<class>.txt`` files whose image names are patch names
(``P0706__1__0___0``); ``--dst`` receives ``Task1_<class>.txt`` with original
image names, ready for submission. With ``--gt`` the merged results are also
evaluated (DOTA task-1 protocol, VOC07 AP, classes without GT counted as the devkit does)
against that labelTxt folder.

A line with a wrong field count, a non-numeric or a non-finite value (``nan``, ``inf``) stops
the tool with an error naming the file and line (``--on-invalid raise``, default); with
``--on-invalid skip`` each such line is reported, counted and left out, and the rest is
merged as the devkit merges it (lines in file order, the devkit's ranking of equal scores).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from centerx_tasks.rotated.dota_eval import eval_dota  # noqa: E402
from centerx_tasks.rotated.dota_labels import DOTA_V1_CLASSES, DOTA_V15_CLASSES, parse_dota_label_file  # noqa: E402
from centerx_tasks.rotated.merge import DOTA_MERGE_NMS_THR, merge_patch_detections  # noqa: E402
from centerx_tasks.rotated.submission import read_task1_detections, write_task1_submission  # noqa: E402

CLASS_SETS = {"v1.0": DOTA_V1_CLASSES, "v1.5": DOTA_V15_CLASSES}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, required=True, help="folder with patch-level Task1_<class>.txt")
    parser.add_argument("--dst", type=Path, required=True, help="output folder for merged Task1_<class>.txt")
    parser.add_argument("--iou-thr", type=float, default=DOTA_MERGE_NMS_THR, help="polygon NMS threshold")
    parser.add_argument("--classes", choices=sorted(CLASS_SETS), default="v1.0")
    parser.add_argument("--gt", type=Path, default=None, help="labelTxt folder to evaluate against")
    parser.add_argument("--use-07-metric", type=int, choices=(0, 1), default=1)
    parser.add_argument("--on-invalid", choices=("raise", "skip"), default="raise",
                        help="malformed or non-finite line in --src: stop naming it, or skip and count it")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    classes = CLASS_SETS[args.classes]
    try:
        patch_dets = read_task1_detections(args.src, classes, on_invalid=args.on_invalid)
    except ValueError as err:
        raise SystemExit(f"error: {err} (--on-invalid skip leaves such lines out)") from None
    for path, line_number, reason in patch_dets.skipped:
        print(f"warning: {path}:{line_number}: skipped ({reason})")
    if patch_dets.skipped:
        print(f"{len(patch_dets.skipped)} invalid detection line(s) skipped")
    num_in = len(patch_dets)
    num_patches = len(set(patch_dets.image_ids))
    merged = merge_patch_detections(patch_dets, iou_thr=args.iou_thr)
    num_out = sum(len(a) for per_class in merged.values() for a in per_class.values())
    write_task1_submission(args.dst, merged, classes)
    print(
        f"{num_patches} patches, {num_in} detections -> {len(merged)} images, "
        f"{num_out} detections after NMS (IoU > {args.iou_thr}) in {args.dst}"
    )
    if args.gt is not None:
        gts = {}
        skipped = 0
        for path in sorted(args.gt.glob("*.txt")):
            labels = parse_dota_label_file(path, classes, on_invalid="skip")
            for line_number, reason in labels.skipped:
                print(f"warning: {path}:{line_number}: skipped ({reason})")
            skipped += len(labels.skipped)
            gts[path.stem] = labels
        result = eval_dota(merged, gts, len(classes), use_07_metric=bool(args.use_07_metric), class_names=classes)
        print(result.table())
        if skipped:
            print(f"{skipped} malformed GT lines skipped")


if __name__ == "__main__":
    main()
