"""Property-based: DOTA ``labelTxt`` and ``Task1_<class>.txt`` files with hostile lines.

Each generated file mixes valid lines with broken ones whose fault is known (a non-finite,
huge or non-numeric value, too few or too many fields, an unknown class, binary junk, a NUL
byte), joined by any line ending. With ``on_invalid='raise'`` the reader names the file and the
first broken line; with ``'skip'`` it keeps exactly the valid lines and lists exactly the broken
ones. A second test throws arbitrary bytes at both readers: a named error or counted skips,
never another exception, never a line lost without a count.
"""
from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import List, Tuple

import numpy as np
import pytest
from hypothesis import given, strategies as st

from centerx_tasks.rotated.dota_labels import DotaLabelError, parse_dota_label_file
from centerx_tasks.rotated.submission import read_task1_detections

CLASSES = ('plane', 'ship')
#: tokens that make a numeric field invalid (labelTxt stores float32: 1e39 is out of range there)
BAD_NUMBERS = ['nan', 'NaN', 'inf', '-inf', 'Infinity', '1e400', '-1e309', 'x', '1,5', '0x10', '--1']
JUNK = [b'\xff\xfe\x00\x01', b'\x80abc', b'plane\x00 1 2', b'\xc3\x28', b'\x00' * 4]
ENDINGS = [b'\n', b'\r\n', b'\r']

coordinate = st.floats(-1e4, 1e4, allow_nan=False).map(lambda v: float(np.float32(v)))


def fmt(value: float) -> str:
    return repr(value) if value != int(value) else str(int(value))


@st.composite
def label_line(draw) -> Tuple[bytes, str, object]:
    """``(line bytes, kind, expected)``: kind 'object' (expected: (coords, label, difficulty)),
    'blank', 'header' or 'bad'."""
    kind = draw(st.sampled_from(['object'] * 4 + ['blank', 'header', 'bad', 'bad']))
    coords = draw(st.lists(coordinate, min_size=8, max_size=8))
    label = draw(st.integers(0, len(CLASSES) - 1))
    difficulty = draw(st.sampled_from([None, 0, 1, 2]))
    tokens = [fmt(v) for v in coords] + [CLASSES[label]] + ([] if difficulty is None else [str(difficulty)])
    if kind == 'blank':
        return draw(st.sampled_from([b' ', b'\t '])), kind, None  # (not b'': after a \r ending, b'' + \n would merge into \r\n)
    if kind == 'header':
        return draw(st.sampled_from([b'imagesource:GoogleEarth', b'gsd:0.5', b'GSD: 0.50'])), kind, None  # repeats agree
    if kind == 'object':
        return ' '.join(tokens).encode(), kind, (coords, label, difficulty or 0)
    fault = draw(st.sampled_from(['number', 'few', 'many', 'class', 'difficult', 'junk']))
    if fault == 'number':
        tokens[draw(st.integers(0, 7))] = draw(st.sampled_from(BAD_NUMBERS + ['1e39', '-3.5e38']))
    elif fault == 'few':
        tokens = tokens[:draw(st.integers(1, 8))]
    elif fault == 'many':
        tokens = tokens[:9] + ['0'] * draw(st.integers(2, 4))
    elif fault == 'class':
        tokens[8] = draw(st.sampled_from(['car', 'Plane', 'ship\u200b', '1']))
    elif fault == 'difficult':
        tokens = tokens[:9] + [draw(st.sampled_from(['3', '-1', '0.5', 'nan', 'yes']))]
    else:
        return draw(st.sampled_from(JUNK)) + b' ' + ' '.join(tokens).encode(), kind, None
    return ' '.join(tokens).encode(), kind, None


def join(lines: List[bytes], data) -> bytes:
    bom = data.draw(st.sampled_from([b'', b'', b'\xef\xbb\xbf']))
    ends = [data.draw(st.sampled_from(ENDINGS)) for _ in lines]
    return bom + b''.join(line + end for line, end in zip(lines, ends))


@pytest.mark.parametrize('on_invalid', ['raise', 'skip'])
@given(data=st.data())
def test_label_file_keeps_valid_lines_and_names_or_counts_broken_ones(on_invalid, data) -> None:
    lines = data.draw(st.lists(label_line(), max_size=12))
    bad = [n for n, (_, kind, _) in enumerate(lines, start=1) if kind == 'bad']
    objects = [expected for _, kind, expected in lines if kind == 'object']
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / 'P0001.txt'
        path.write_bytes(join([raw for raw, _, _ in lines], data))
        if bad and on_invalid == 'raise':
            with pytest.raises(DotaLabelError) as err:
                parse_dota_label_file(path, CLASSES)
            assert err.value.line_number == bad[0] and str(err.value).startswith(f'{path}:{bad[0]}: ')
            return
        parsed = parse_dota_label_file(path, CLASSES, on_invalid=on_invalid)
    assert [n for n, _ in parsed.skipped] == bad
    assert len(parsed) == len(objects) and np.isfinite(parsed.polys).all()
    expected = np.array([c for c, _, _ in objects], np.float32).reshape(-1, 8)
    np.testing.assert_array_equal(parsed.polys, expected)
    assert parsed.labels.tolist() == [label for _, label, _ in objects]
    assert parsed.difficulty.tolist() == [d for _, _, d in objects]


@st.composite
def task1_line(draw) -> Tuple[bytes, str, object]:
    """``(line bytes, kind, expected)``: kind 'det' (expected: (image, score, coords)), 'blank' or 'bad'."""
    kind = draw(st.sampled_from(['det'] * 4 + ['blank', 'bad', 'bad']))
    image = draw(st.sampled_from(['P0001', 'P0002__1024__0___0', 'img']))
    values = [draw(st.floats(0, 1))] + draw(st.lists(st.floats(-1e300, 1e300, allow_nan=False), min_size=8, max_size=8))
    tokens = [image] + [repr(v) for v in values]
    if kind == 'blank':
        return b' ', kind, None
    if kind == 'det':
        return ' '.join(tokens).encode(), kind, (image, values)
    fault = draw(st.sampled_from(['number', 'few', 'many', 'junk']))
    if fault == 'number':
        tokens[draw(st.integers(1, 9))] = draw(st.sampled_from(BAD_NUMBERS))
    elif fault == 'few':
        tokens = tokens[:draw(st.integers(1, 9))]
    elif fault == 'many':
        tokens = tokens + ['0'] * draw(st.integers(1, 3))
    else:
        return draw(st.sampled_from(JUNK)) + b' ' + ' '.join(tokens).encode(), kind, None
    return ' '.join(tokens).encode(), kind, None


@pytest.mark.parametrize('on_invalid', ['raise', 'skip'])
@given(data=st.data())
def test_task1_files_keep_valid_lines_and_name_or_count_broken_ones(on_invalid, data) -> None:
    per_class = [data.draw(st.lists(task1_line(), max_size=8)) for _ in CLASSES]
    with tempfile.TemporaryDirectory() as folder:
        for name, lines in zip(CLASSES, per_class):
            (Path(folder) / f'Task1_{name}.txt').write_bytes(join([raw for raw, _, _ in lines], data))
        bad = [(str(Path(folder) / f'Task1_{name}.txt'), n) for name, lines in zip(CLASSES, per_class)
               for n, (_, kind, _) in enumerate(lines, start=1) if kind == 'bad']
        if bad and on_invalid == 'raise':
            with pytest.raises(ValueError) as err:
                read_task1_detections(folder, CLASSES)
            assert str(err.value).startswith(f'{bad[0][0]}:{bad[0][1]}: ')
            return
        flat = read_task1_detections(folder, CLASSES, on_invalid=on_invalid)
    assert [(p, n) for p, n, _ in flat.skipped] == bad
    dets = [(cls, expected) for cls, lines in enumerate(per_class) for _, kind, expected in lines if kind == 'det']
    assert flat.image_ids == [image for _, (image, _) in dets]
    assert flat.labels.tolist() == [cls for cls, _ in dets]
    table = np.array([values for _, (_, values) in dets], np.float64).reshape(-1, 9)
    np.testing.assert_array_equal(flat.scores, table[:, 0])
    np.testing.assert_array_equal(flat.polys, table[:, 1:])


@pytest.mark.parametrize('on_invalid', ['raise', 'skip'])
@given(content=st.binary(max_size=300), lines=st.lists(st.text(max_size=40), max_size=6))
def test_arbitrary_bytes_give_a_named_error_or_counted_skips(on_invalid, content, lines) -> None:
    data = content + '\n'.join(lines).encode('utf-8', errors='surrogatepass')
    with tempfile.TemporaryDirectory() as folder:
        label_path = Path(folder) / 'P0001.txt'
        label_path.write_bytes(data)
        (Path(folder) / 'Task1_plane.txt').write_bytes(data)
        try:
            parsed = parse_dota_label_file(label_path, CLASSES, on_invalid=on_invalid)
        except DotaLabelError as err:
            assert on_invalid == 'raise' and str(err).startswith(f'{label_path}:{err.line_number}: ')
        else:
            non_blank = sum(1 for line in data.replace(b'\r\n', b'\n').replace(b'\r', b'\n').split(b'\n')
                            if line.strip(b' \t\x0b\x0c\x1c\x1d\x1e\x1f'))
            assert len(parsed) + len(parsed.skipped) <= non_blank
            assert np.isfinite(parsed.polys).all() and (parsed.gsd is None or math.isfinite(parsed.gsd))
        try:
            flat = read_task1_detections(folder, CLASSES, on_invalid=on_invalid)
        except ValueError as err:
            assert on_invalid == 'raise' and str(err).startswith(f'{Path(folder) / "Task1_plane.txt"}:')
        else:
            assert np.isfinite(flat.polys).all() and np.isfinite(flat.scores).all()
            assert flat.polys.shape == (len(flat), 8)


# ------------------------------------------------------------- examples kept as regular tests


@pytest.mark.parametrize('content, line, reason', [
    (b'1 2 3 4 5 6 7 8 plane 0\n\xff\xfe junk\n', 2, 'not UTF-8 text'),
    (b'1 2 3 4 5 6 7 8 plane\x00 0\n', 1, 'NUL byte'),
    (b'1 2 3 4 5 6 7 1e39 plane 0\n', 1, 'beyond float32'),
    (b'gsd:0.5\ngsd:0.25\n', 2, "second 'gsd' header"),
])
def test_label_file_faults_found_by_the_properties(tmp_path, content, line, reason) -> None:
    """Binary junk used to escape as a UnicodeDecodeError naming no file (and could not be
    skipped); 1e39 became an inf float32 coordinate; a second gsd overwrote the first."""
    path = tmp_path / 'P0001.txt'
    path.write_bytes(content)
    with pytest.raises(DotaLabelError, match=reason) as err:
        parse_dota_label_file(path, CLASSES)
    assert err.value.line_number == line
    parsed = parse_dota_label_file(path, CLASSES, on_invalid='skip')
    assert [n for n, _ in parsed.skipped] == [line]


def test_task1_junk_is_named_or_skipped_and_duplicates_are_kept(tmp_path) -> None:
    good = b'a 0.5 0 0 4 0 4 4 0 4\n'
    (tmp_path / 'Task1_ship.txt').write_bytes(good + b'\xff\xd8\xff\xe0 binary\n' + good + b'a 0.5 0 0 4\x0b0 4 4 0 4\n')
    with pytest.raises(ValueError, match=r'Task1_ship.txt:2: not UTF-8 text'):
        read_task1_detections(tmp_path, CLASSES)
    flat = read_task1_detections(tmp_path, CLASSES, on_invalid='skip')
    assert len(flat) == 3 and [n for _, n, _ in flat.skipped] == [2]  # the duplicate line is kept
    assert flat.image_ids == ['a', 'a', 'a']
