"""Tests for centerx_tasks.rotated.split / merge / patch_names and the two CLI tools."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from centerx_tasks.rotated.dota_eval import group_detections
from centerx_tasks.rotated.dota_labels import DOTA_V1_CLASSES, parse_dota_label_file
from centerx_tasks.rotated.merge import (
    DOTA_MERGE_NMS_THR,
    batched_rotated_nms,
    merge_patch_detections,
    patch_polys_to_image,
    rotated_nms,
)
from centerx_tasks.rotated.patch_names import format_patch_name, parse_patch_name
from centerx_tasks.rotated.polygon_iou import poly_iou_matrix
from centerx_tasks.rotated.split import sliding_windows, split_image, split_stats, window_starts
from centerx_tasks.rotated.submission import read_task1_submission, write_task1_submission

REPO = Path(__file__).resolve().parents[3]


def box(x0: float, y0: float, w: float = 10.0, h: float = 10.0) -> list[float]:
    return [x0, y0, x0 + w, y0, x0 + w, y0 + h, x0, y0 + h]


# ---------------------------------------------------------------- names and windows


def test_patch_names_round_trip():
    assert format_patch_name("P0706", 1.0, 0, 0) == "P0706__1__0___0"
    assert format_patch_name("P0706", 0.5, 824, 1648) == "P0706__0.5__824___1648"
    p = parse_patch_name("P0706__1.5__100___200")
    assert (p.image, p.rate, p.x0, p.y0) == ("P0706", 1.5, 100, 200)
    assert str(p) == "P0706__1.5__100___200"
    assert parse_patch_name("dir/my__img__1__3___4.png").image == "my__img"
    with pytest.raises(ValueError):
        parse_patch_name("P0706_1_0_0")


def test_window_starts():
    assert window_starts(1111, 512, 128).tolist() == [0, 384, 599]
    assert window_starts(1182, 512, 128).tolist() == [0, 384, 670]
    assert window_starts(512, 512, 128).tolist() == [0]
    assert window_starts(300, 512, 128).tolist() == [0]  # smaller than a patch: padded
    assert window_starts(896, 512, 128).tolist() == [0, 384]  # exact fit, no duplicate
    assert window_starts(4000, 1024, 200).tolist() == [0, 824, 1648, 2472, 2976]
    with pytest.raises(ValueError):
        window_starts(100, 512, 512)
    assert sliding_windows(1111, 600, 512, 128).tolist() == [[0, 0], [0, 88], [384, 0], [384, 88], [599, 0], [599, 88]]


# ---------------------------------------------------------------- split on synthetic data


def test_split_synthetic_rules():
    img = np.arange(300 * 200 * 3, dtype=np.uint32).reshape(200, 300, 3).astype(np.uint8)
    polys = np.array(
        [
            box(10, 10, 20, 10),  # inside window (0, 0) only
            box(90, 10, 20, 10),  # 100 = border of window (0,0) [0,100]: straddles x=100 -> 50% in it
            box(95, 50, 40, 10),  # straddles x=100 by 5 px -> iof 0.125 in (0,0)
            box(150, 100, 30, 30),
        ]
    )
    patches = split_image(img, polys, np.array([1, 2, 3, 4]), np.array([0, 1, 0, 0]),
                          patch_size=100, gap=20, iof_thr=0.7)
    assert [(p.x0, p.y0) for p in patches][:3] == [(0, 0), (0, 80), (0, 100)]
    first = patches[0]
    assert first.image.shape == (100, 100, 3)
    np.testing.assert_array_equal(first.image, img[:100, :100])
    assert first.name("img") == "img__1__0___0"
    assert first.source_index.tolist() == [0]  # object 1 (iof .5) and 2 (.125) truncated here
    np.testing.assert_allclose(first.polys[0], box(10, 10, 20, 10))
    assert first.num_truncated == 2

    window_80 = next(p for p in patches if (p.x0, p.y0) == (80, 0))
    idx = window_80.source_index.tolist()
    assert idx == [1, 2]  # both whole inside [80, 180]
    assert window_80.difficulty.tolist() == [1, 0]
    np.testing.assert_allclose(window_80.polys[0], np.array(box(90, 10, 20, 10)) - np.tile([80, 0], 4))
    stats = split_stats(patches, len(polys))
    assert stats.objects_lost == 0 and stats.objects_only_partial == 0


def test_split_partial_objects_are_clipped_rectangles_with_difficult_2():
    img = np.zeros((100, 160, 3), np.uint8)
    # a 40x10 rotated-by-0 box, 8 px of it beyond x=100 -> iof 0.8 in window (0,0) of size 100
    polys = np.array([box(68, 40, 40, 10)])
    patches = split_image(img, polys, np.array([5]), np.array([1]), patch_size=100, gap=40, iof_thr=0.7)
    p0 = patches[0]
    assert (p0.x0, p0.y0) == (0, 0)
    assert p0.difficulty.tolist() == [2] and p0.partial.tolist() == [True]
    assert p0.iof[0] == pytest.approx(0.8)
    rect = p0.polys[0].reshape(4, 2)
    assert rect[:, 0].min() == pytest.approx(68) and rect[:, 0].max() == pytest.approx(100)
    assert rect[:, 1].min() == pytest.approx(40) and rect[:, 1].max() == pytest.approx(50)
    p1 = patches[1]  # window x0 = 60 holds it whole
    assert p1.x0 == 60 and p1.difficulty.tolist() == [1] and p1.iof.tolist() == [1.0]


def test_split_small_image_is_padded_and_unlabelled_images_work():
    img = np.full((50, 70, 3), 7, np.uint8)
    patches = split_image(img, patch_size=128, gap=32)
    assert len(patches) == 1
    p = patches[0]
    assert p.image.shape == (128, 128, 3)
    assert (p.image[:50, :70] == 7).all() and (p.image[50:] == 0).all() and (p.image[:, 70:] == 0).all()
    assert p.polys.shape == (0, 8)


def test_split_rate_rescales_image_and_polygons():
    img = np.zeros((200, 300, 3), np.uint8)
    patches = split_image(img, np.array([box(100, 100, 20, 10)]), patch_size=256, gap=64, rate=0.5)
    assert len(patches) == 1 and patches[0].rate == 0.5
    np.testing.assert_allclose(patches[0].polys[0], box(50, 50, 10, 5))
    assert patches[0].name("a") == "a__0.5__0___0"


# ---------------------------------------------------------------- NMS and merge


def test_rotated_nms_hand_case():
    # A-B IoU = 60/140 = .43, B-C = .43, A-C = 20/180 = .11, D far away
    polys = np.array([box(0, 0), box(4, 0), box(8, 0), box(100, 100)], dtype=float)
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    # thr .3: B suppressed by A; C survives because its only heavy overlap is the suppressed B
    assert rotated_nms(polys, scores, 0.3).tolist() == [0, 2, 3]
    # thr .1 (devkit default): A also suppresses C (.11 > .1)
    assert rotated_nms(polys, scores).tolist() == [0, 3]
    assert DOTA_MERGE_NMS_THR == 0.1
    # order by score, ties keep input order
    assert rotated_nms(polys[::-1], scores[::-1], 0.3).tolist() == [3, 1, 0]
    assert rotated_nms(polys[::-1], scores, 0.3).tolist() == [0, 1, 3]  # D, C kept; B under C; A free
    # equal scores ranked as the devkit's scores.argsort()[::-1]: the second of two equal boxes wins
    assert rotated_nms(np.array([box(0, 0), box(0, 0)], float), np.array([0.5, 0.5]), 0.5).tolist() == [1]
    # different groups never suppress each other
    assert batched_rotated_nms(polys, scores, np.array([0, 1, 2, 0]), 0.1).tolist() == [0, 3, 1, 2]  # by group
    assert rotated_nms(np.zeros((0, 8)), np.zeros(0)).tolist() == []


def test_rotated_nms_rotated_boxes():
    from centerx_tasks.rotated.geometry import rbox_to_poly_np

    rb = np.array([[50, 50, 40, 10, 0.5], [50, 50, 40, 10, 0.55], [50, 50, 40, 10, 0.5 + np.pi / 2]])
    polys = rbox_to_poly_np(rb)
    keep = rotated_nms(polys, np.array([0.5, 0.9, 0.8]), 0.5)
    # the two nearly identical boxes collapse to the best one; the perpendicular one (IoU 1/7) stays
    assert keep.tolist() == [1, 2]


def test_merge_patch_detections_hand_case():
    patch_dets = {
        "img__1__0___0": {0: np.array([box(10, 10) + [0.9], box(200, 200) + [0.3]])},
        "img__1__100___0": {0: np.array([box(-90, 10) + [0.8]]), 2: np.array([box(0, 0) + [0.5]])},
        "img__0.5__0___0": {0: np.array([box(5, 5, 5, 5) + [0.7]])},  # = box(10, 10) at full scale
        "other__1__0___0": {},
    }
    merged = merge_patch_detections(patch_dets)
    assert set(merged) == {"img", "other"} and merged["other"] == {}
    np.testing.assert_allclose(merged["img"][0], [box(10, 10) + [0.9], box(200, 200) + [0.3]])
    np.testing.assert_allclose(merged["img"][2], [box(100, 0) + [0.5]])
    np.testing.assert_allclose(patch_polys_to_image(np.array([box(5, 5, 5, 5)]), 0, 0, 0.5), [box(10, 10)])


# ---------------------------------------------------------------- split -> merge on real images


def split_merge_round_trip(dota_dir: Path, name: str, patch_size: int, gap: int, rates=(1.0,)):
    gt = parse_dota_label_file(dota_dir / "labelTxt" / f"{name}.txt")
    img = cv2.imread(str(dota_dir / "images" / f"{name}.png"))
    patch_dets, all_patches = {}, []
    for rate in rates:
        patches = split_image(img, gt.polys, gt.labels, gt.difficulty, patch_size=patch_size, gap=gap, rate=rate)
        all_patches += patches
        for p in patches:
            # GT as detections: whole objects score 1, clipped pieces less (by how much is left)
            scores = np.where(p.partial, 0.5 * p.iof, 1.0)
            patch_dets[p.name(name)] = group_detections([name] * len(p.labels), p.polys, scores, p.labels).get(name, {})
    stats = split_stats(all_patches, len(gt))
    merged = merge_patch_detections(patch_dets)[name]
    rows = np.concatenate(list(merged.values()))
    labels = np.concatenate([np.full(len(v), k) for k, v in merged.items()])
    iou = poly_iou_matrix(gt.polys, rows[:, :8])
    iou[gt.labels[:, None] != labels[None, :]] = 0.0
    return gt, stats, rows, iou, all_patches


@pytest.mark.parametrize("name", ["P1888", "P0706"])
def test_split_merge_ground_truth_512(dota_dir, name):
    gt, stats, rows, iou, patches = split_merge_round_trip(dota_dir, name, 512, 128)
    print(f"\n{name} 512/128: {stats.summary()}; merged {len(rows)} of {len(gt)}")
    assert stats.patches == (4 if name == "P1888" else 9)
    assert stats.kept_partial > 0 and stats.truncated > 0  # the case has objects cut by borders
    whole_somewhere = np.zeros(len(gt), bool)
    for p in patches:
        whole_somewhere[p.source_index[~p.partial]] = True
    best = iou.max(axis=1)
    # every object whole in some patch comes back exactly
    assert (best[whole_somewhere] > 0.95).all()
    # no extra objects: each merged box matches a distinct original object
    assert (iou.max(axis=0) > 0.5).all()
    assert len(np.unique(iou.argmax(axis=0))) == len(rows)
    never_whole = np.flatnonzero(~whole_somewhere)
    classes = [gt.class_names[c] for c in gt.labels[never_whole]]
    print(f"{name}: objects never whole in a 512 patch: {never_whole.tolist()} ({classes}), "
          f"best merged IoU {np.round(best[never_whole], 3).tolist()}")
    if name == "P1888":
        assert len(rows) == len(gt) and stats.objects_only_partial == 0 and stats.objects_lost == 0
    else:
        # P0706: 5 harbors are ~430 px wide and never fit whole in a 512 window with gap 128; one of them
        # has no piece >= iof_thr anywhere (lost), 4 survive as clipped pieces; ship 0 sticks 1 px out of
        # the image and survives as a clipped piece: the min-area rectangle of its clipped part, IoU .90 with
        # the (non-rectangular) labelled quad.
        assert stats.objects_lost == 1 and stats.objects_only_partial == 5
        assert len(rows) == len(gt) - 1
        harbor = DOTA_V1_CLASSES.index("harbor")
        assert (gt.labels[never_whole[1:]] == harbor).all() and never_whole[0] == 0
        assert best[0] > 0.85


def test_split_merge_p0706_devkit_defaults_recovers_everything(dota_dir):
    gt, stats, rows, iou, _ = split_merge_round_trip(dota_dir, "P0706", 1024, 200, rates=(1.0, 0.5))
    print(f"\nP0706 1024/200 rates 1, 0.5: {stats.summary()}")
    assert len(rows) == len(gt)
    assert (iou.max(axis=1) > 0.95).all()
    assert len(np.unique(iou.argmax(axis=0))) == len(rows)


# ---------------------------------------------------------------- CLI tools


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f"_tool_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_split_and_merge_cli(tmp_path, capsys):
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "labelTxt").mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(src / "images" / "A.png"), rng.integers(0, 255, (150, 220, 3), dtype=np.uint8))
    cv2.imwrite(str(src / "images" / "B.png"), rng.integers(0, 255, (90, 90, 3), dtype=np.uint8))  # no labels
    (src / "labelTxt" / "A.txt").write_text(
        "imagesource:GoogleEarth\ngsd:0.5\n10 10 30 10 30 20 10 20 ship 0\n90 40 120 40 120 50 90 50 plane 1\n"
        "1 2 3 bad line\n"
    )
    dst = tmp_path / "dst"
    split = load_tool("dota_split")
    stats = split.main(["--src", str(src), "--dst", str(dst), "--patch-size", "128", "--gap", "32",
                        "--rates", "1.0", "0.5", "--workers", "1"])
    out = capsys.readouterr()
    assert "patches" in out.out and "1 malformed label lines skipped" in out.out and "A.txt:5" in out.out
    names = sorted(p.stem for p in (dst / "images").glob("*.png"))
    assert "A__1__0___0" in names and "A__1__92___22" in names and "A__0.5__0___0" in names
    assert "B__1__0___0" in names and not (dst / "labelTxt" / "B__1__0___0.txt").exists()
    assert stats.images == 2
    label = parse_dota_label_file(dst / "labelTxt" / "A__1__0___0.txt")
    assert label.image_source == "GoogleEarth" and label.gsd == 0.5 and len(label) == 2
    assert parse_dota_label_file(dst / "labelTxt" / "A__0.5__0___0.txt").gsd == 1.0

    # patch-level results: the labels themselves, then merge back
    patch_dets = {}
    for path in sorted((dst / "labelTxt").glob("*.txt")):
        lab = parse_dota_label_file(path)
        patch_dets[path.stem] = group_detections([path.stem] * len(lab), lab.polys,
                                                 np.where(lab.difficulty == 2, 0.5, 1.0), lab.labels).get(path.stem, {})
    write_task1_submission(tmp_path / "patch_results", patch_dets, DOTA_V1_CLASSES)
    merge = load_tool("dota_merge")
    merge.main(["--src", str(tmp_path / "patch_results"), "--dst", str(tmp_path / "merged"),
                "--gt", str(src / "labelTxt")])
    out = capsys.readouterr().out
    assert "mAP" in out and "1.0000" in out
    merged = read_task1_submission(tmp_path / "merged", DOTA_V1_CLASSES)
    assert set(merged) == {"A"}
    np.testing.assert_allclose(merged["A"][DOTA_V1_CLASSES.index("ship")][:, :8], [[10, 10, 30, 10, 30, 20, 10, 20]])
