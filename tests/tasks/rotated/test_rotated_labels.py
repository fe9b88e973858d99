"""Tests for centerx_tasks.rotated.dota_labels."""

from __future__ import annotations

import numpy as np
import pytest

from centerx_tasks.rotated.dota_labels import (
    DOTA_V1_CLASSES,
    DOTA_V15_CLASSES,
    DotaLabelError,
    parse_dota_label_file,
    write_dota_label_file,
)

GOOD = "1 2 3 4 5 6 7 8 ship 0"


def write(tmp_path, text: str, name: str = "x.txt"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_class_lists():
    assert len(DOTA_V1_CLASSES) == 15 and len(DOTA_V15_CLASSES) == 16
    assert DOTA_V1_CLASSES[0] == "plane" and DOTA_V1_CLASSES[-1] == "helicopter"
    assert DOTA_V1_CLASSES.index("ship") == 6 and DOTA_V1_CLASSES.index("harbor") == 12
    assert DOTA_V15_CLASSES[-1] == "container-crane"


def test_real_file_p1888(dota_dir):
    d = parse_dota_label_file(dota_dir / "labelTxt" / "P1888.txt")
    assert d.polys.shape == (64, 8) and d.polys.dtype == np.float32
    assert d.labels.dtype == np.int64 and d.difficult.dtype == bool
    counts = np.bincount(d.labels, minlength=15)
    assert counts[DOTA_V1_CLASSES.index("large-vehicle")] == 50
    assert counts[DOTA_V1_CLASSES.index("small-vehicle")] == 14
    assert not d.difficult.any()
    assert d.image_source == "GoogleEarth" and d.gsd == pytest.approx(0.266170468393)
    assert d.skipped == []
    assert d.polys[0].tolist() == [674, 375, 683, 375, 684, 394, 675, 395]


def test_real_file_p0706(dota_dir):
    d = parse_dota_label_file(dota_dir / "labelTxt" / "P0706.txt")
    assert len(d) == 536
    counts = np.bincount(d.labels, minlength=15)
    assert counts[DOTA_V1_CLASSES.index("ship")] == 531
    assert counts[DOTA_V1_CLASSES.index("harbor")] == 5
    assert d.difficult.sum() == 6
    assert d.names[0] == "ship"


def test_headers_blank_lines_crlf_and_optional_difficult(tmp_path):
    text = "imagesource:GoogleEarth\r\ngsd:null\r\n\r\n1 2 3 4 5 6 7 8 ship\r\n1.5 2 3 4 5 6 7 8.25 harbor 2\r\n  \r\n"
    d = parse_dota_label_file(write(tmp_path, text))
    assert d.image_source == "GoogleEarth" and d.gsd is None
    assert d.labels.tolist() == [6, 12]
    assert d.difficulty.tolist() == [0, 2] and d.difficult.tolist() == [False, True]
    assert d.polys[1, 0] == 1.5 and d.polys[1, 7] == 8.25
    d = parse_dota_label_file(write(tmp_path, "gsd:None\n" + GOOD + "\n"))
    assert d.gsd is None and d.image_source is None
    d = parse_dota_label_file(write(tmp_path, "\ufeffimagesource:GF-2\n" + GOOD))  # BOM, no final newline
    assert d.image_source == "GF-2" and len(d) == 1


def test_empty_file(tmp_path):
    d = parse_dota_label_file(write(tmp_path, ""))
    assert d.polys.shape == (0, 8) and d.labels.shape == (0,) and d.difficult.shape == (0,)


MALFORMED = [
    ("1 2 3 4 5 6 ship 0", "expected 9 or 10 fields"),
    ("1 2 3 4 5 6 7 ship 0", "non-numeric coordinate 'ship' (field 8)"),
    ("1 2 3 4 5 6 7 8 ship 0 extra", "expected 9 or 10 fields"),
    ("1 2 3 a 5 6 7 8 ship 0", "non-numeric coordinate"),
    ("1 2 3 nan 5 6 7 8 ship 0", "non-finite coordinate"),
    ("1 2 3 4 5 6 7 8 boat 0", "unknown class"),
    ("1 2 3 4 5 6 7 8 ship 3", "difficult must be 0, 1 or 2"),
    ("1 2 3 4 5 6 7 8 ship x", "difficult must be 0, 1 or 2"),
    ("gsd:abc", "could not convert"),
    ("author:me", "unknown header"),
]


@pytest.mark.parametrize("bad,reason", MALFORMED)
def test_malformed_line_raises_with_location(tmp_path, bad, reason):
    path = write(tmp_path, f"imagesource:GoogleEarth\ngsd:0.1\n{GOOD}\n{bad}\r\n{GOOD}\n")
    with pytest.raises(DotaLabelError) as info:
        parse_dota_label_file(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.line_number == 4
    message = str(err)
    assert str(path) in message and ":4:" in message and bad in message and reason in message


def test_skip_policy_records_every_bad_line(tmp_path):
    lines = [GOOD] + [bad for bad, _ in MALFORMED] + [GOOD]
    path = write(tmp_path, "\n".join(lines) + "\n")
    d = parse_dota_label_file(path, on_invalid="skip")
    assert len(d) == 2
    assert [n for n, _ in d.skipped] == list(range(2, 2 + len(MALFORMED)))
    for (_, reason), (_, expected) in zip(d.skipped, MALFORMED):
        assert expected in reason
    with pytest.raises(ValueError):
        parse_dota_label_file(path, on_invalid="ignore")  # type: ignore[arg-type]


def test_deprecated_on_error_keyword_still_works_and_warns(tmp_path):
    """The former ``on_error`` keyword goes through the datasets' resolver: it warns, maps
    ``'error'`` to ``'raise'``, and disagreeing with ``on_invalid`` is an error."""
    path = write(tmp_path, f"{GOOD}\n1 2 3 4 5 6 7 8 boat 0\n{GOOD}\n")
    with pytest.warns(DeprecationWarning, match=r"parse_dota_label_file\(on_error='skip'\) is deprecated") as rec:
        d = parse_dota_label_file(path, on_error="skip")
    assert len(d) == 2 and [n for n, _ in d.skipped] == [2]
    assert rec[0].filename == __file__  # points at the caller
    for old in ("raise", "error"):
        with pytest.warns(DeprecationWarning), pytest.raises(DotaLabelError, match="unknown class 'boat'"):
            parse_dota_label_file(path, on_error=old)
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="disagree"):
        parse_dota_label_file(path, on_invalid="skip", on_error="raise")
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="on_error must be"):
        parse_dota_label_file(path, on_error="ignore")


def test_v15_class_needs_v15_list(tmp_path):
    path = write(tmp_path, "1 2 3 4 5 6 7 8 container-crane 0\n")
    with pytest.raises(DotaLabelError):
        parse_dota_label_file(path)
    assert parse_dota_label_file(path, DOTA_V15_CLASSES).labels.tolist() == [15]


def test_write_read_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    polys = np.round(rng.uniform(0, 1000, (20, 8)), 2)
    polys[:5] = np.round(polys[:5])
    labels = rng.integers(0, 15, 20)
    difficulty = rng.integers(0, 3, 20)
    names = [DOTA_V1_CLASSES[i] for i in labels]
    path = write_dota_label_file(tmp_path / "sub" / "y.txt", polys, names, difficulty, "GoogleEarth", 0.25)
    first = path.read_text().splitlines()
    assert first[:2] == ["imagesource:GoogleEarth", "gsd:0.25"]
    assert "." not in first[2].split()[0]  # integral coordinates written as integers
    d = parse_dota_label_file(path)
    np.testing.assert_allclose(d.polys, polys, atol=1e-3)
    assert d.labels.tolist() == labels.tolist()
    assert d.difficulty.tolist() == difficulty.tolist()
    assert d.image_source == "GoogleEarth" and d.gsd == 0.25
    with pytest.raises(ValueError):
        write_dota_label_file(tmp_path / "z.txt", polys[:2], ["ship"], [0, 0])
    with pytest.raises(ValueError):
        write_dota_label_file(tmp_path / "z.txt", polys[:1], ["small vehicle"], [0])
