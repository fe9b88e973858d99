"""Tests for centerx_tasks.rotated.dota_eval (fast) against hand-computed values and the reference."""

from __future__ import annotations

import numpy as np
import pytest

from centerx_tasks.rotated.dota_eval import average_precision, eval_dota, group_detections
from centerx_tasks.rotated.dota_eval_reference import _voc_ap, eval_dota_reference
from centerx_tasks.rotated.dota_labels import DOTA_V1_CLASSES, parse_dota_label_file
from centerx_tasks.rotated.geometry import rbox_to_poly_np
from centerx_tasks.rotated.submission import read_task1_submission, write_task1_submission


def box(x0: float, y0: float, w: float = 10.0, h: float = 10.0) -> list[float]:
    return [x0, y0, x0 + w, y0, x0 + w, y0 + h, x0, y0 + h]


def det(poly: list[float], score: float) -> list[float]:
    return poly + [score]


G1, G2, G3 = box(0, 0), box(100, 0), box(200, 0)
GTS = {"img": (np.array([G1, G2]), np.array([0, 0]), np.array([False, False]))}
AP07_HAND = 28.0 / 33.0
AP12_HAND = 5.0 / 6.0


def evaluate(dets, gts, num_classes=1, **kw):
    fast = eval_dota(dets, gts, num_classes, **kw)
    ref = eval_dota_reference(dets, gts, num_classes, **kw)
    np.testing.assert_allclose(fast.ap, ref.ap, atol=1e-12)
    return fast


def test_hand_computed_two_gts_three_dets():
    # scores 0.9 (hits G1), 0.8 (hits nothing), 0.7 (hits G2):
    #   TP = [1, 0, 1], FP = [0, 1, 0]; recall = [.5, .5, 1]; precision = [1, .5, 2/3]
    # VOC07: thresholds 0..0.5 (6 of them) see max precision 1, thresholds 0.6..1.0 (5) see 2/3:
    #   AP = (6 * 1 + 5 * 2/3) / 11 = 28/33 = 0.848484...
    # VOC12: envelope [1, 2/3] over recall steps 0->.5 and .5->1: AP = .5 * 1 + .5 * 2/3 = 5/6
    dets = {"img": {0: np.array([det(G1, 0.9), det(box(50, 50), 0.8), det(box(101, 1), 0.7)])}}
    r07 = evaluate(dets, GTS, use_07_metric=True)
    r12 = evaluate(dets, GTS, use_07_metric=False)
    assert r07.ap[0] == pytest.approx(AP07_HAND, abs=1e-12)
    assert r12.ap[0] == pytest.approx(AP12_HAND, abs=1e-12)
    assert r07.map == pytest.approx(AP07_HAND)
    np.testing.assert_allclose(r07.recalls[0], [0.5, 0.5, 1.0])
    np.testing.assert_allclose(r07.precisions[0], [1.0, 0.5, 2.0 / 3.0])
    assert r07.recall[0] == 1.0 and r07.precision[0] == pytest.approx(2.0 / 3.0)
    assert r07.num_gts[0] == 2 and r07.num_dets[0] == 3


def test_difficult_gt_is_ignored():
    gts = {"img": (np.array([G1, G2, G3]), np.array([0, 0, 0]), np.array([False, False, True]))}
    # the 0.95 detection hits the difficult G3: neither TP nor FP; the rest is the hand case
    dets = {
        "img": {0: np.array([det(G3, 0.95), det(G1, 0.9), det(box(50, 50), 0.8), det(box(101, 1), 0.7)])}
    }
    r = evaluate(dets, gts, use_07_metric=True)
    assert r.num_gts[0] == 2 and r.num_difficult[0] == 1
    assert r.ap[0] == pytest.approx(AP07_HAND, abs=1e-12)
    assert evaluate(dets, gts, use_07_metric=False).ap[0] == pytest.approx(AP12_HAND, abs=1e-12)
    # a detection on a difficult GT leaves precision at 0 for that (tp + fp = 0) entry, as officially
    assert r.precisions[0][0] == 0.0 and r.recalls[0][0] == 0.0


def test_duplicate_detection_is_false_positive():
    # 0.9 hits G1, 0.8 hits G1 again (duplicate -> FP), 0.7 hits G2: same TP/FP sequence as the hand case
    dets = {"img": {0: np.array([det(G1, 0.9), det(box(0.5, 0), 0.8), det(G2, 0.7)])}}
    assert evaluate(dets, GTS, use_07_metric=True).ap[0] == pytest.approx(AP07_HAND, abs=1e-12)


def test_best_gt_taken_among_matched_ones_too():
    # official rule: the duplicate's best GT is the matched G1 (IoU .9) even though it overlaps the
    # unmatched G4 (IoU .5 < .9) -> FP, G4 stays unmatched
    g4 = box(5, 0)
    gts = {"img": (np.array([G1, g4]), np.array([0, 0]), np.array([False, False]))}
    dets = {"img": {0: np.array([det(G1, 0.9), det(box(0.5, 0), 0.8)])}}
    r = evaluate(dets, gts)
    np.testing.assert_allclose(r.recalls[0], [0.5, 0.5])


def test_iou_threshold_is_strict():
    # IoU exactly 0.5: [0,20]x[0,10] vs [0,10]x[0,10] -> 100 / 200; the official test is "> 0.5"
    gts = {"img": (np.array([box(0, 0, 20, 10)]), np.array([0]), np.array([False]))}
    dets = {"img": {0: np.array([det(box(0, 0), 0.9)])}}
    assert evaluate(dets, gts).ap[0] == 0.0
    assert evaluate(dets, gts, iou_thr=0.49).ap[0] == 1.0


def test_no_detections_and_class_without_gt():
    gts = {"img": (np.array([G1, G2]), np.array([0, 1]), np.array([False, False]))}
    dets = {"img": {1: np.array([det(G2, 0.9)]), 2: np.array([det(G3, 0.5)])}}
    # devkit: recall of a class without GT is 0 / 0 = NaN -> 11-point AP 0, counted in mAP
    r = evaluate(dets, gts, num_classes=3)
    assert r.ap[0] == 0.0 and r.recall[0] == 0.0 and r.num_dets[0] == 0  # no detections
    assert r.ap[1] == 1.0
    assert r.ap[2] == 0.0 and r.num_gts[2] == 0 and np.isnan(r.recall[2])
    assert r.map == pytest.approx(1.0 / 3.0)
    assert set(r.to_dict()) == {"mAP", "AP/0", "AP/1", "AP/2"}
    area = evaluate(dets, gts, num_classes=3, use_07_metric=False)  # devkit: NaN recall steps -> NaN AP
    assert np.isnan(area.ap[2]) and np.isnan(area.map)
    # the documented option: classes without GT excluded (VOC convention)
    kept = evaluate(dets, gts, num_classes=3, classes_without_gt="ignore")
    assert np.isnan(kept.ap[2]) and kept.map == pytest.approx(0.5)
    assert set(kept.to_dict()) == {"mAP", "AP/0", "AP/1"}
    empty = evaluate({}, gts, num_classes=3)
    assert empty.map == 0.0
    with pytest.raises(ValueError, match="classes_without_gt"):
        eval_dota(dets, gts, 3, classes_without_gt="skip")


def test_detection_on_unknown_image_is_false_positive():
    dets = {"img": {0: np.array([det(G1, 0.5), det(G2, 0.4)])}, "other": {0: np.array([det(G1, 0.9)])}}
    r = evaluate(dets, GTS, use_07_metric=False)
    np.testing.assert_allclose(r.precisions[0], [0.0, 0.5, 2.0 / 3.0])


def test_class_range_checked():
    with pytest.raises(ValueError):
        eval_dota({"img": {3: np.array([det(G1, 0.5)])}}, GTS, num_classes=2)


def random_case(seed: int):
    rng = np.random.default_rng(seed)
    num_images, num_classes = 6, 3
    gts, dets = {}, {}
    for i in range(num_images):
        n = int(rng.integers(0, 25))
        rb = np.stack([rng.uniform(0, 400, n), rng.uniform(0, 400, n), rng.uniform(10, 60, n),
                       rng.uniform(6, 30, n), rng.uniform(-np.pi, np.pi, n)], 1)
        polys = rbox_to_poly_np(rb)
        labels = rng.integers(0, num_classes, n)
        gts[f"im{i}"] = (polys, labels, rng.random(n) < 0.15)
        # detections: noisy copies (IoU spread around the threshold), duplicates, random boxes
        k = int(rng.integers(0, 3 * n + 5))
        src = rng.integers(0, max(n, 1), k)
        noisy = rb[src] if n else np.zeros((k, 5))
        noisy = noisy + rng.normal(0, 1, (k, 5)) * np.array([6, 6, 5, 3, 0.2])
        noisy[:, 2:4] = np.abs(noisy[:, 2:4]) + 1
        rand = np.stack([rng.uniform(0, 400, k), rng.uniform(0, 400, k), rng.uniform(10, 60, k),
                         rng.uniform(6, 30, k), rng.uniform(-np.pi, np.pi, k)], 1)
        use_rand = rng.random(k) < 0.3
        det_rb = np.where(use_rand[:, None], rand, noisy)
        det_labels = np.where(rng.random(k) < 0.85, labels[src] if n else 0, rng.integers(0, num_classes, k))
        scores = np.round(rng.random(k), 1)  # many ties
        flat = group_detections([f"im{i}"] * k, rbox_to_poly_np(det_rb), scores, det_labels)
        dets.update(flat)
    dets["unknown"] = {0: np.array([det(G1, 0.55)])}
    return dets, gts, num_classes


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("use_07", [True, False])
def test_fast_equals_reference_on_random_cases(seed, use_07):
    dets, gts, num_classes = random_case(seed)
    fast = eval_dota(dets, gts, num_classes, use_07_metric=use_07)
    ref = eval_dota_reference(dets, gts, num_classes, use_07_metric=use_07)
    np.testing.assert_allclose(fast.ap, ref.ap, atol=1e-9)
    np.testing.assert_allclose(fast.recall, ref.recall, atol=1e-9)
    np.testing.assert_allclose(fast.precision, ref.precision, atol=1e-9)
    assert fast.map == pytest.approx(ref.map, abs=1e-9)
    np.testing.assert_array_equal(fast.num_gts, ref.num_gts)
    np.testing.assert_array_equal(fast.num_dets, ref.num_dets)
    for a, b in zip(fast.recalls + fast.precisions, ref.recalls + ref.precisions):
        np.testing.assert_allclose(a, b, atol=1e-12)
    assert 0.0 < fast.map < 1.0


def test_average_precision_matches_loop_version():
    rng = np.random.default_rng(7)
    for _ in range(50):
        k = int(rng.integers(0, 30))
        tp = rng.random(k) < 0.6
        npos = max(int(tp.sum()) + int(rng.integers(0, 4)), 1)
        rec = np.cumsum(tp) / npos
        prec = np.cumsum(tp) / np.maximum(np.arange(1, k + 1), 1)
        for use_07 in (True, False):
            assert average_precision(rec, prec, use_07) == pytest.approx(_voc_ap(rec, prec, use_07), abs=1e-12)


@pytest.mark.parametrize("name", ["P0706", "P1888"])
def test_perfect_detections_on_real_labels(dota_dir, name):
    gt = parse_dota_label_file(dota_dir / "labelTxt" / f"{name}.txt")
    dets = group_detections([name] * len(gt), gt.polys, np.linspace(1, 0.5, len(gt)), gt.labels)
    r = eval_dota(dets, {name: gt}, len(DOTA_V1_CLASSES), class_names=DOTA_V1_CLASSES)
    present = (r.num_gts > 0).sum()
    assert r.map == pytest.approx(present / len(DOTA_V1_CLASSES))  # devkit: absent classes count 0
    assert eval_dota(dets, {name: gt}, len(DOTA_V1_CLASSES), classes_without_gt="ignore").map == 1.0
    assert r.num_gts.sum() + r.num_difficult.sum() == len(gt)
    table = r.table()
    assert "mAP" in table and ("ship" in table and "large-vehicle" in table)
    print("\n" + table)


def test_submission_round_trip(tmp_path):
    dets, _, num_classes = random_case(0)
    names = DOTA_V1_CLASSES[:num_classes]
    paths = write_task1_submission(tmp_path, dets, names)
    assert [p.name for p in paths] == [f"Task1_{n}.txt" for n in names]
    line = paths[0].read_text().splitlines()[0].split()
    assert len(line) == 10
    back = read_task1_submission(tmp_path, names)
    for image, per_class in dets.items():
        for cls, arr in per_class.items():
            np.testing.assert_allclose(back[image][cls], arr, atol=6e-3)
