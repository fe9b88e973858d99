"""The distribution: what it installs, and that the core stands without the built-in tasks."""
import configparser
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _package_folders() -> set:
    """Import names of every folder with an ``__init__.py`` under centerx/ and tasks/."""
    names = set()
    for top, import_name in (('centerx', 'centerx'), ('tasks', 'centerx_tasks')):
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, top)):
            if '__init__.py' in files and '__pycache__' not in dirpath:
                rel = os.path.relpath(dirpath, os.path.join(ROOT, top))
                names.add(import_name if rel == '.' else f'{import_name}.' + rel.replace(os.sep, '.'))
    return names


def test_setup_cfg_lists_every_package_and_maps_tasks_to_an_owned_name():
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, 'setup.cfg'))
    listed = set(cfg['options']['packages'].split())
    assert listed == _package_folders()
    assert not any(p == 'tasks' or p.startswith('tasks.') for p in listed)
    assert cfg['options']['package_dir'].split() == ['centerx_tasks', '=', 'tasks']


def test_core_imports_and_resolves_the_model_without_any_task_package():
    code = ("import sys, centerx.models, centerx.registry as r; r.MODELS.get('CenterNet'); "
            "r.TASKS.get('Box2DTask'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tasks', 'centerx_tasks')))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == '[]'


def test_built_in_tasks_register_under_the_owned_name():
    import centerx_tasks  # noqa: F401
    from centerx.registry import TASKS
    for name in ('Box2DTask', 'RotatedBoxTask', 'KeypointTask', 'Box3DTask'):
        assert TASKS.get(name) is not None


def test_dev_extra_installs_the_export_extra():
    """CI installs ``.[dev]``: the ONNX parity tests (tests/export/) must find onnx and onnxruntime."""
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, 'setup.cfg'))
    extras = cfg['options.extras_require']
    export, dev = set(extras['export'].split()), set(extras['dev'].split())
    assert {req.split('>')[0] for req in export} == {'onnx', 'onnxruntime'}
    assert export <= dev
