#!/usr/bin/env python
"""Convert nuScenes (through the devkit) to COCO-style monocular 3D json files, one per split.

Example::

    python tools/nuscenes_convert.py --dataroot data/nuscenes --version v1.0-trainval \
        --out data/nuscenes/annotations [--cameras CAM_FRONT CAM_BACK | all]

writes ``nus_mono3d_train.json`` and ``nus_mono3d_val.json`` (``v1.0-mini``:
``nus_mono3d_mini_train.json`` / ``nus_mono3d_mini_val.json``) and prints a summary
(images, objects per class, objects skipped because their category has no nuScenes
detection class). Format and rules: ``tasks/box3d/nuscenes_convert.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from centerx_tasks.box3d.nuscenes_convert import main  # noqa: E402

if __name__ == '__main__':
    main()
