#!/usr/bin/env python
"""Run a trained model on your own images or a video: drawn predictions and a json of them.

Example::

    python tools/demo.py configs/box2d_synthetic.py work_dirs/box2d_synthetic/iter_1200.pth photos/ --out-dir demo/

INPUT is an image, a folder (searched recursively for images) or a video. Written to
``--out-dir``:

- an image ``a/b.png`` of a folder: ``a/b.png.jpg``, the image with every head's predictions
  above ``--score-thr`` drawn by the tasks' drawers (boxes, rotated boxes, skeletons, projected
  cuboids, a plugin's own), and ``a/b.png.json`` with those predictions (original-image pixels;
  see ``centerx.apis.predictions_to_json``). Paths below the folder are kept, so same-named
  images of different subfolders never overwrite each other (a ``.jpg``/``.jpeg`` keeps its
  name: ``a/b.jpg`` and ``a/b.jpg.json``).
- a video ``v.mp4``: ``v.mp4.mp4`` (annotated, same frame rate and size) and ``v.mp4.json``
  (one entry per frame).

A monocular 3D model needs the camera intrinsics of the images: ``--cam2img FX FY CX CY``
(or the 9 values of the 3x3 matrix, row by row).
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
from typing import Any, List, Optional, Sequence

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from centerx.apis import inference_detector, init_detector, predictions_to_json  # noqa: E402
from centerx.engine.hooks import show_path  # noqa: E402
from centerx.visualization import draw_predictions  # noqa: E402

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.mpg', '.mpeg', '.m4v')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('input', help='an image, a folder of images or a video')
    parser.add_argument('--out-dir', default='demo_out', help='where the outputs go (default: demo_out)')
    parser.add_argument('--score-thr', type=float, default=0.3, help='draw and save detections above this score')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1 ...')
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument('--cam2img', type=float, nargs='+', metavar='V',
                        help='camera intrinsics of the input (3D models): FX FY CX CY or the 9 matrix values')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow full (unsafe) unpickling of the checkpoint; only for files you trust')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    return parser.parse_args(argv)


def camera_metas(values: Optional[Sequence[float]]) -> tuple:
    """The task metas of every input image: a ``CameraMeta`` when ``--cam2img`` is given."""
    if not values:
        return ()
    if len(values) == 4:
        fx, fy, cx, cy = values
        matrix = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    elif len(values) == 9:
        matrix = np.asarray(values, dtype=np.float64).reshape(3, 3)
    else:
        raise SystemExit(f'--cam2img takes 4 values (FX FY CX CY) or 9 (the 3x3 matrix), got {len(values)}')
    from centerx_tasks.box3d.camera_meta import CameraMeta
    return (CameraMeta(cam2img=matrix),)


def find_images(folder: str, skip: Optional[str] = None) -> List[str]:
    """Image files below ``folder`` (recursively), sorted; nothing below ``skip`` (the output
    folder, when it lies inside the input: a second run must not read the first one's drawings)."""
    found = []
    skip = osp.abspath(skip) if skip and osp.abspath(skip) != osp.abspath(folder) else None
    for root, dirs, files in os.walk(folder):
        if skip is not None and (osp.abspath(root) + os.sep).startswith(skip + os.sep):
            dirs[:] = []
            continue
        dirs.sort()
        found += [osp.join(root, f) for f in sorted(files) if osp.splitext(f)[1].lower() in IMAGE_EXTS]
    return found


def write_json(data: Any, path: str) -> None:
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    with open(path, 'w') as f:
        json.dump(data, f)


def run_images(model, paths: Sequence[str], root: str, args: argparse.Namespace, metas: tuple) -> List[str]:
    """Predict, draw and save every image; returns the files written."""
    written: List[str] = []
    bar = tqdm(total=len(paths), desc='demo', unit='image', disable=len(paths) < 2)
    for start in range(0, len(paths), args.batch_size):
        chunk = list(paths[start:start + args.batch_size])
        samples = inference_detector(model, chunk, task_metas=[metas] * len(chunk), batch_size=args.batch_size)
        for path, sample in zip(chunk, samples):
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            drawing = show_path(args.out_dir, path, root)
            os.makedirs(osp.dirname(drawing), exist_ok=True)
            if not cv2.imwrite(drawing, draw_predictions(img, sample, model.classes, args.score_thr)):
                raise OSError(f'cannot write the drawing of {path} to {drawing}')
            record = osp.join(args.out_dir, osp.relpath(path, root) + '.json')
            write_json(predictions_to_json(sample, model.classes, args.score_thr), record)
            written += [drawing, record]
        bar.update(len(chunk))
    bar.close()
    return written


def run_video(model, path: str, args: argparse.Namespace, metas: tuple) -> List[str]:
    """Predict and draw every frame of a video into an annotated copy; returns the files written."""
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise SystemExit(f'cannot open the video {path}')
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    out_video = osp.join(args.out_dir, osp.basename(path) + '.mp4')
    os.makedirs(args.out_dir, exist_ok=True)
    writer = None
    frames = []
    try:
        with tqdm(total=total, desc='demo', unit='frame') as bar:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                sample = inference_detector(model, frame, task_metas=metas)
                drawn = draw_predictions(frame, sample, model.classes, args.score_thr)
                if writer is None:
                    h, w = frame.shape[:2]
                    writer = cv2.VideoWriter(out_video, cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
                    if not writer.isOpened():
                        raise OSError(f'cannot write the video {out_video}')
                writer.write(drawn)
                record = predictions_to_json(sample, model.classes, args.score_thr)
                record.update(image=path, frame=len(frames))
                frames.append(record)
                bar.update(1)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if not frames:
        raise SystemExit(f'the video {path} has no readable frame')
    record_path = osp.join(args.out_dir, osp.basename(path) + '.json')
    write_json(frames, record_path)
    return [out_video, record_path]


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    args = parse_args(argv)
    if args.batch_size < 1:
        raise SystemExit(f'--batch-size must be >= 1, got {args.batch_size}')
    if not osp.exists(args.input):
        raise SystemExit(f'input {args.input} does not exist')
    metas = camera_metas(args.cam2img)
    model = init_detector(args.config, args.checkpoint, device=args.device, cfg_options=args.cfg_options,
                          trust_checkpoint=True if args.trust_checkpoint else None)
    if osp.isdir(args.input):
        paths = find_images(args.input, skip=args.out_dir)
        if not paths:
            raise SystemExit(f'no image ({", ".join(IMAGE_EXTS)}) below {args.input}')
        written = run_images(model, paths, args.input, args, metas)
    elif osp.splitext(args.input)[1].lower() in VIDEO_EXTS:
        written = run_video(model, args.input, args, metas)
    else:
        written = run_images(model, [args.input], osp.dirname(args.input) or '.', args, metas)
    print(f'wrote {len(written)} files to {args.out_dir}')
    return written


if __name__ == '__main__':
    main()
