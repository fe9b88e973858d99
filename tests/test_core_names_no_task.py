"""The core names no built-in task's field, camera or dataset in its code (prose may give
examples); what a task owns (drawers, annotation kinds, per-task metas) it registers itself."""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator, Set, Tuple

ROOT = Path(__file__).resolve().parents[1]
#: names of the built-in tasks' fields and geometry; none may appear in centerx/'s code
TASK_WORDS = re.compile(r'cam2img|cam2ego|ego2global|intrinsic|camera|boxes3d|polygon|keypoint|difficult|'
                        r'flip_pairs|rbox|velocit|nuscenes|dota', re.IGNORECASE)


def _docstrings(tree: ast.AST) -> Set[int]:
    """ids of the docstring constants of a module, its classes and functions."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            for stmt in node.body:
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                        and isinstance(stmt.value.value, str):
                    out.add(id(stmt.value))
    return out


def code_words(source: str) -> Iterator[Tuple[int, str]]:
    """(line, text) of every identifier and non-docstring string of ``source`` (comments and
    docstrings are prose and left out)."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            yield node.lineno, node.id
        elif isinstance(node, ast.Attribute):
            yield node.lineno, node.attr
        elif isinstance(node, ast.arg):
            yield node.lineno, node.arg
        elif isinstance(node, ast.keyword) and node.arg:
            yield node.lineno, node.arg
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.lineno, node.name
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value


def test_the_scan_sees_code_and_skips_prose() -> None:
    source = '"""cam2img in a docstring"""\n# keypoints in a comment\nx = meta.cam2img\ny = "boxes3d"\n'
    found = [(line, w) for line, w in code_words(source) if TASK_WORDS.search(w)]
    assert found == [(3, 'cam2img'), (4, 'boxes3d')]


def test_core_code_names_no_task_field_or_camera() -> None:
    hits = []
    for path in sorted((ROOT / 'centerx').rglob('*.py')):
        for line, word in code_words(path.read_text()):
            if TASK_WORDS.search(word):
                hits.append(f'{path.relative_to(ROOT)}:{line}: {word[:80]!r}')
    assert hits == []


def test_the_core_alone_registers_only_shared_annotation_kinds() -> None:
    code = ('import centerx.data, centerx.visualization as v, centerx.registry as r; '
            'print(sorted(r.ANNOTATION_KINDS.module_dict), sorted(v.FIELD_DRAWERS))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=str(ROOT),
                         check=True, env={**os.environ, 'PYTHONPATH': str(ROOT)})
    assert out.stdout.strip() == "['bboxes', 'ignore', 'labels'] []"


def test_built_in_tasks_register_their_own_kinds() -> None:
    from centerx.registry import ANNOTATION_KINDS
    owners = {name: cls.__module__ for name, cls in ANNOTATION_KINDS.module_dict.items()}
    assert owners['polygons'] == 'centerx_tasks.rotated.annotation_kind'
    assert owners['keypoints'] == 'centerx_tasks.keypoints.annotation_kind'
    assert owners['boxes3d'] == 'centerx_tasks.box3d.annotation_kinds'
    assert 'difficult' in ANNOTATION_KINDS.module_dict  # registered by centerx_tasks.rotated
