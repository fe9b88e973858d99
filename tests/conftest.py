"""The built-in tasks register themselves on import, as a config's ``custom_imports`` makes them
(the core names no task): the tests import them once here.

Hypothesis profiles of the property-based tests (``tests/test_property_*.py``): ``ci`` (the
default: few examples, so the suite stays fast) and ``thorough`` (many more), selected by the
environment variable ``CENTERX_HYPOTHESIS_PROFILE``, e.g.
``CENTERX_HYPOTHESIS_PROFILE=thorough python -m pytest tests/test_property_coco.py``.
"""
import os

import pytest

from hypothesis import HealthCheck, Phase, settings

import centerx_tasks  # noqa: F401

settings.register_profile('ci', max_examples=25, deadline=None, derandomize=True,  # no shrinking: fails fast
                          phases=(Phase.explicit, Phase.reuse, Phase.generate),
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


@pytest.fixture(scope='session')
def hostile() -> HostileValues:
    """Strategies of hostile values for the parsers' property tests (draw them with ``st.data()``)."""
    return HostileValues()
