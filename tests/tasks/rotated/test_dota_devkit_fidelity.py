"""The DOTA task-1 numbers equal the official devkit's: polygons as given, its ranking, its class count.

Also: non-finite input is refused naming the file and line (or skipped and counted) by every
DOTA reader, and coordinates near float64 limits neither overflow nor zero a class.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from centerx_tasks.rotated.dota_eval import eval_dota
from centerx_tasks.rotated.dota_eval_reference import _voc_ap, eval_dota_reference
from centerx_tasks.rotated.merge import merge_patch_detections
from centerx_tasks.rotated.submission import read_task1_detections, read_task1_submission, write_task1_submission

REPO = Path(__file__).resolve().parents[3]
CLASSES = ("plane", "ship")


def box(x0: float, y0: float, w: float = 10.0, h: float = 10.0) -> list[float]:
    return [x0, y0, x0 + w, y0, x0 + w, y0 + h, x0, y0 + h]


def both(dets, gts, num_classes=1, **kw):
    """eval_dota and the per-detection reference; they must agree."""
    fast = eval_dota(dets, gts, num_classes, **kw)
    ref = eval_dota_reference(dets, gts, num_classes, **kw)
    np.testing.assert_allclose(fast.ap, ref.ap, atol=1e-12, equal_nan=True)
    return fast


def test_bowtie_and_concave_detections_scored_as_given():
    rect = [0, 0, 20, 0, 20, 10, 0, 10]
    gts = {"img": (np.array([rect]), np.array([0]), np.array([False]))}
    bowtie = [0, 0, 20, 0, 0, 10, 20, 10]  # the rectangle's corners in bow-tie order
    assert both({"img": {0: np.array([bowtie + [0.9]])}}, gts).ap[0] == 0.0  # devkit 0 (its hull gave 1)
    assert both({"img": {0: np.array([rect + [0.9]])}}, gts).ap[0] == 1.0
    # concave, reflex vertex (10, 3): area 80, IoU 80 / 200 = 0.4; its hull (a triangle, area 100) gives 0.5
    dart = [0, 0, 20, 0, 10, 3, 0, 10]
    assert both({"img": {0: np.array([dart + [0.9]])}}, gts, iou_thr=0.45).ap[0] == 0.0
    assert both({"img": {0: np.array([dart + [0.9]])}}, gts, iou_thr=0.35).ap[0] == 1.0


def test_equal_scores_ranked_as_np_argsort():
    # 40 detections with two scores, interleaved; TP / FP alternating inside each score: AP depends on ties
    n = 20
    gt_polys = np.array([box(100 * i, 0) for i in range(n)])
    rows, is_tp = [], []
    for i in range(2 * n):
        score, hit = (0.5 if i % 2 == 0 else 0.6), (i // 2) % 2 == 0
        rows.append((box(100 * sum(is_tp), 0) if hit else box(100 * i, 500)) + [score])  # k-th hit -> GT k
        is_tp.append(hit)
    conf = np.array([r[8] for r in rows])
    devkit_order = np.argsort(-conf)
    assert not np.array_equal(devkit_order, np.argsort(-conf, kind="stable"))  # default sort: not stable here

    def ap_in(order: np.ndarray) -> float:
        tp = np.cumsum(np.array(is_tp)[order])
        fp = np.cumsum(~np.array(is_tp)[order])
        return _voc_ap(tp / n, tp / (tp + fp), use_07_metric=False)

    stable_order = np.argsort(-conf, kind="stable")
    assert ap_in(devkit_order) != pytest.approx(ap_in(stable_order), abs=1e-6)
    gts = {"img": (gt_polys, np.zeros(n, np.int64), np.zeros(n, bool))}
    got = both({"img": {0: np.array(rows)}}, gts, use_07_metric=False)
    assert got.ap[0] == pytest.approx(ap_in(devkit_order), abs=1e-15)


def test_task1_files_keep_file_order_for_ranking(tmp_path):
    # lines of two images interleaved in the file: the devkit ranks over file order
    lines, is_tp = [], []
    for i in range(12):
        lines.append(f"a 0.5 {' '.join(map(str, box(100 * i, 0)))}\n")
        lines.append(f"b 0.5 {' '.join(map(str, box(100 * i, 0)))}\n")  # image b has no GT: FP
        is_tp += [True, False]
    (tmp_path / "Task1_plane.txt").write_text("".join(lines))
    flat = read_task1_detections(tmp_path, CLASSES)
    assert flat.image_ids[:4] == ["a", "b", "a", "b"] and len(flat) == 24
    gts = {"a": (np.array([box(100 * i, 0) for i in range(12)]), np.zeros(12, np.int64), np.zeros(12, bool)),
           "b": (np.zeros((0, 8)), np.zeros(0, np.int64), np.zeros(0, bool))}
    order = np.argsort(-np.full(24, 0.5))
    tp = np.cumsum(np.array(is_tp)[order])
    fp = np.cumsum(~np.array(is_tp)[order])
    expected = _voc_ap(tp / 12, tp / (tp + fp), use_07_metric=False)
    got = both(flat, gts, num_classes=2, use_07_metric=False)
    assert got.ap[0] == pytest.approx(expected, abs=1e-15)


def test_huge_coordinates_do_not_zero_a_class():
    polys = np.array([box(0, 0), box(1e307, 1e307, 1e306, 1e306), box(-1e307, 5, 1e300, 1e300)])
    gts = {"img": (polys, np.zeros(3, np.int64), np.zeros(3, bool)),
           "img2": (polys[:1], np.zeros(1, np.int64), np.zeros(1, bool))}
    dets = {"img": {0: np.concatenate([polys, [[0.9], [0.8], [0.7]]], axis=1)},
            "img2": {0: np.array([box(0, 0) + [0.6]])}}
    with np.errstate(over="raise", invalid="raise"):
        assert eval_dota(dets, gts, 1).ap[0] == 1.0  # (the devkit's own polyiou overflows here)


# ---------------------------------------------------------------- non-finite input, every reader


def test_task1_reader_names_nan_line_or_counts_skip(tmp_path):
    (tmp_path / "Task1_ship.txt").write_text(
        f"a 0.9 {' '.join(map(str, box(0, 0)))}\n\na nan {' '.join(map(str, box(0, 0)))}\n"
        f"a 0.7 1 2 3 inf 5 6 7 8\n"
    )
    with pytest.raises(ValueError, match=r"Task1_ship.txt:3: non-finite value 'nan' \(field 2\)"):
        read_task1_detections(tmp_path, CLASSES)
    with pytest.raises(ValueError, match=r"Task1_ship.txt:3"):
        read_task1_submission(tmp_path, CLASSES)
    flat = read_task1_detections(tmp_path, CLASSES, on_invalid="skip")
    assert len(flat) == 1 and [s[1] for s in flat.skipped] == [3, 4]
    assert "inf" in flat.skipped[1][2]
    (tmp_path / "Task1_ship.txt").write_text("a 0.9 1 2 3 x 5 6 7 8\n")
    with pytest.raises(ValueError, match=r"Task1_ship.txt:1: non-numeric value 'x' \(field 6\)"):
        read_task1_detections(tmp_path, CLASSES)
    with pytest.raises(ValueError, match="on_invalid"):
        read_task1_detections(tmp_path, CLASSES, on_invalid="ignore")  # type: ignore[arg-type]


def test_eval_refuses_or_counts_non_finite_detections():
    gts = {"img": (np.array([box(0, 0)]), np.array([0]), np.array([False]))}
    dets = {"img": {0: np.array([box(0, 0) + [0.9], box(0, 0)[:7] + [np.nan, 0.8]])}}
    with pytest.raises(ValueError, match="image 'img' class 0"):
        eval_dota(dets, gts, 1)
    r = both(dets, gts, on_invalid="skip")
    assert r.ap[0] == 1.0 and r.num_skipped == 1 and "1 detection(s) with non-finite values skipped" in r.table()
    with pytest.raises(ValueError, match="not finite"):
        write_task1_submission(Path("/nonexistent-never-written"), dets, ["plane"])


def test_merge_refuses_non_finite_rows():
    patch = {"P1__1__0___0": {0: np.array([box(0, 0) + [np.inf]])}}
    with pytest.raises(ValueError, match="patch 'P1__1__0___0' class 0"):
        merge_patch_detections(patch)


def load_merge_tool():
    spec = importlib.util.spec_from_file_location("_tool_dota_merge_fidelity", REPO / "tools" / "dota_merge.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dota_merge_cli_nan_line_refused_or_rest_merged(tmp_path, capsys):
    src = tmp_path / "patches"
    src.mkdir()
    good = [f"P1__1__0___0 0.9 {' '.join(map(str, box(0, 0)))}",
            f"P1__1__0___0 0.8 {' '.join(map(str, box(1, 1)))}",  # overlaps the first: suppressed
            f"P1__1__100___0 0.7 {' '.join(map(str, box(0, 0)))}"]  # other place in P1
    (src / "Task1_plane.txt").write_text("\n".join(good[:2] + ["P1__1__0___0 0.95 nan 0 10 0 10 10 0 10"]
                                                   + good[2:]) + "\n")
    merge = load_merge_tool()
    with pytest.raises(SystemExit, match=r"Task1_plane.txt:3: non-finite value 'nan'"):
        merge.main(["--src", str(src), "--dst", str(tmp_path / "out")])
    merge.main(["--src", str(src), "--dst", str(tmp_path / "out"), "--on-invalid", "skip"])
    out = capsys.readouterr().out
    assert "Task1_plane.txt:3: skipped" in out and "1 invalid detection line(s) skipped" in out
    assert "3 detections -> 1 images, 2 detections after NMS" in out
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "Task1_plane.txt").write_text("\n".join(good) + "\n")
    merge.main(["--src", str(clean), "--dst", str(tmp_path / "out_clean")])
    assert (tmp_path / "out" / "Task1_plane.txt").read_text() == (tmp_path / "out_clean" / "Task1_plane.txt").read_text()
