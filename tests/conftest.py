"""The built-in tasks register themselves on import, as a config's ``custom_imports`` makes them
(the core names no task): the tests import them once here.

Hypothesis profiles of the property-based tests (``tests/test_property_*.py``): ``ci`` (the
default: few examples, so the suite stays fast) and ``thorough`` (many more), selected by the
environment variable ``CENTERX_HYPOTHESIS_PROFILE``, e.g.
``CENTERX_HYPOTHESIS_PROFILE=thorough python -m pytest tests/tasks/box2d/test_property_coco.py``.

Real-data samples (DOTA, nuScenes) are read from ``$CENTERX_FIXTURES``, by default
``<repo>/../shared/fixtures``; every test that needs them skips when they are absent. A fresh
clone has no such folder; ``CENTERX_FIXTURES=/nonexistent python -m pytest tests`` runs the suite
as it would there.
"""
import json
import os
from typing import Any, Optional, Sequence

import pytest

from hypothesis import HealthCheck, Phase, settings

import centerx_tasks  # noqa: F401

#: where the fixture tests look for the real-data samples (read by the test modules at import)
os.environ.setdefault('CENTERX_FIXTURES', os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                       '..', 'shared', 'fixtures'))

# ci: the same 25 examples every run (derandomized, no example database), no shrinking (fails fast)
settings.register_profile('ci', max_examples=25, deadline=None, derandomize=True, database=None,
                          phases=(Phase.explicit, Phase.generate),
                          suppress_health_check=(HealthCheck.too_slow, HealthCheck.function_scoped_fixture))
settings.register_profile('thorough', max_examples=1000, deadline=None,
                          suppress_health_check=(HealthCheck.too_slow, HealthCheck.function_scoped_fixture))
settings.load_profile(os.environ.get('CENTERX_HYPOTHESIS_PROFILE', 'ci'))


class HostileValues:
    """Hypothesis strategies of the values a parser may meet in a hostile file."""

    def __init__(self) -> None:
        from hypothesis import strategies as st
        #: numbers: zero, negative, NaN, +-inf, huge (float64 and float32 limits), tiny, ints
        self.number = st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.sampled_from([0, 0.0, -0.0, -1, 1e-30, 3.5e38, -3.5e38, 1e308, 2 ** 63, -2 ** 63 - 1]),
            st.integers(-10 ** 20, 10 ** 20), st.floats(-2000, 2000))
        #: anything a json value can be (and a number most of the time)
        self.value = st.one_of(self.number, st.none(), st.booleans(), st.text(max_size=4),
                               st.lists(self.number, max_size=3), st.dictionaries(st.text(max_size=2),
                                                                                  self.number, max_size=2))

    def numbers(self, n: int):
        """Lists of ``n`` hostile numbers, or (sometimes) any value instead."""
        from hypothesis import strategies as st
        return st.one_of(st.lists(self.number, min_size=n, max_size=n), self.value)

    def sane_or(self, sane, weight: int = 3):
        """``sane`` most of the time, a hostile value otherwise."""
        from hypothesis import strategies as st
        return st.one_of(*([sane] * weight), self.value)


    def coco_files(self, keypoint_names: Sequence[str] = (), num_images: int = 3, num_annotations: int = 6):
        """COCO dicts whose every field is sometimes hostile (ids may repeat, boxes may be
        anything); with ``keypoint_names``, categories define them and annotations carry
        ``keypoints`` (3 per name, sometimes hostile)."""
        from hypothesis import strategies as st
        small_id = st.integers(0, 3)
        image = st.fixed_dictionaries(dict(
            id=self.sane_or(small_id), file_name=self.sane_or(st.sampled_from(['a.jpg', 'b/a.jpg'])),
            height=self.sane_or(st.integers(1, 64)), width=self.sane_or(st.integers(1, 64))))
        box = st.one_of(st.lists(self.number, min_size=4, max_size=4),
                        st.tuples(st.floats(-80, 80), st.floats(-80, 80), st.floats(0, 80),
                                  st.floats(0, 80)).map(list), self.value)
        fields = dict(id=self.sane_or(st.integers(0, 8)), image_id=self.sane_or(small_id),
                      category_id=self.sane_or(st.sampled_from([1, 2])), bbox=box,
                      iscrowd=self.sane_or(st.sampled_from([0, 1])))
        category = dict(id=self.sane_or(st.sampled_from([1, 2])), name=self.sane_or(st.sampled_from(['cat', 'dog'])))
        if keypoint_names:
            k = len(keypoint_names)
            point = st.tuples(st.floats(-10, 80), st.floats(-10, 80), st.sampled_from([0, 1, 2]))
            sane = st.lists(point, min_size=k, max_size=k).map(lambda ps: [v for p in ps for v in p])
            fields['keypoints'] = st.one_of(sane, self.numbers(3 * k))
            category['keypoints'] = self.sane_or(st.just(list(keypoint_names)))
        return st.fixed_dictionaries(dict(
            images=st.lists(image, max_size=num_images),
            annotations=st.lists(st.fixed_dictionaries(fields), max_size=num_annotations),
            categories=st.lists(st.fixed_dictionaries(category), min_size=1, max_size=2)))

    @staticmethod
    def write_json(data: Any, folder: str) -> str:
        """``folder/ann.json`` holding ``data`` (NaN / Infinity written as Python's json does)."""
        path = os.path.join(folder, 'ann.json')
        with open(path, 'w') as f:
            json.dump(data, f)
        return path

    @staticmethod
    def load_or_named_error(cls: type, path: str, **kwargs: Any) -> Optional[Any]:
        """``cls(ann_file=path, test_mode=True, **kwargs)``, or None after a ValueError that
        names ``path`` (any other exception, or an error not naming the file, fails)."""
        try:
            return cls(ann_file=path, test_mode=True, **kwargs)
        except ValueError as e:
            assert path in str(e), f'error does not name the file: {e}'
            return None

    @staticmethod
    def check_instances(instances: dict) -> None:
        """Assert a dataset item's instances are sound: ``bboxes`` float32 (N, 4) finite xyxy of
        positive size, ``labels`` (N,); where present ``boxes3d`` (N, 7) finite with sizes
        (3:6) > 0 and ``velocities`` (N, 2) without inf."""
        import numpy as np
        n = len(instances['labels'])
        boxes = instances['bboxes']
        assert boxes.shape == (n, 4) and boxes.dtype == np.float32 and np.isfinite(boxes).all()
        assert (boxes[:, 2:] > boxes[:, :2]).all()
        if 'boxes3d' in instances:
            assert instances['boxes3d'].shape == (n, 7) and np.isfinite(instances['boxes3d']).all()
            assert (instances['boxes3d'][:, 3:6] > 0).all() and not np.isinf(instances['velocities']).any()


@pytest.fixture(scope='session')
def hostile() -> HostileValues:
    """Strategies of hostile values for the parsers' property tests (draw them with ``st.data()``)."""
    return HostileValues()
