"""The projection behind every "about N more rounds would settle it" (fwbench.stats.settle)."""

from __future__ import annotations

import math

import pytest

from fwbench.stats.intervals import t_quantile
from fwbench.stats.ratios import Ratio
from fwbench.stats.settle import LIMIT, log_half_width, more_rounds_to, projected_half_width


def _ratio(low: float, high: float, rounds: int = 3, degrees: float | None = 3.0, level: float = 0.95) -> Ratio:
    return Ratio(math.sqrt(low * high), low, high, level, "test", rounds, degrees)


@pytest.mark.parametrize("degrees", [None, 2.0, 3.3, 40.0])
def test_no_more_rounds_leave_the_half_width_as_it_is(degrees):
    value = _ratio(0.9, 1.3, degrees=degrees)
    assert projected_half_width(value, 0) == pytest.approx(log_half_width(value))


def test_without_degrees_of_freedom_only_the_standard_error_shrinks_as_the_root_of_the_rounds():
    value = _ratio(0.9, 1.3, rounds=4, degrees=None)
    half = log_half_width(value)
    assert projected_half_width(value, 12) == pytest.approx(half * math.sqrt(4 / 16))
    room = half / 3 * (1 + 1e-9)  # nine times the rounds: 32 more (a hair over, for the floats' rounding)
    assert more_rounds_to(value, room) == 32 and more_rounds_to(value, half / 3 * 1.01) == 32


@pytest.mark.parametrize("rounds, more, variance", [(3, 5, 1.0), (3, 20, 0.3), (5, 7, 0.55), (2, 40, 1.6)])
def test_rounds_that_vary_less_shrink_the_mean_s_variance_as_a_mix_of_the_two(rounds, more, variance):
    value = _ratio(0.8, 1.25, rounds=rounds, degrees=None)
    expected = log_half_width(value) * math.sqrt(rounds * (rounds + more * variance)) / (rounds + more)
    assert projected_half_width(value, more, relative_variance=variance) == pytest.approx(expected)


def test_the_t_quantile_shrinking_with_more_rounds_asks_for_fewer_than_the_standard_error_alone():
    with_degrees, without = _ratio(0.9, 1.3, degrees=3.0), _ratio(0.9, 1.3, degrees=None)
    room = log_half_width(with_degrees) / 2.5
    fewer, more = more_rounds_to(with_degrees, room), more_rounds_to(without, room)
    assert 1 <= fewer < more
    # the least: that many rounds get there and one fewer does not
    assert projected_half_width(with_degrees, fewer) <= room < projected_half_width(with_degrees, fewer - 1)
    quantile_then = t_quantile(0.975, 3.0 + fewer) / t_quantile(0.975, 3.0)
    assert projected_half_width(with_degrees, fewer) == pytest.approx(
        log_half_width(with_degrees) * quantile_then * math.sqrt(3 / (3 + fewer)))


def test_a_stricter_level_and_rounds_that_vary_more_ask_for_more():
    value = _ratio(0.9, 1.3)
    room = log_half_width(value) / 2
    plain = more_rounds_to(value, room)
    assert more_rounds_to(value, room, level=0.99) > plain
    assert more_rounds_to(value, room, relative_variance=0.5) < plain
    assert more_rounds_to(value, log_half_width(value)) == 1  # already narrow enough: one round, the least given


def test_no_room_or_no_interval_gives_no_number_and_an_unreachable_room_the_limit():
    value = _ratio(0.9, 1.3)
    assert more_rounds_to(value, 0.0) is None and more_rounds_to(value, -0.1) is None
    assert more_rounds_to(Ratio(1.1, None, None, 0.95, "none", 1), 0.1) is None
    assert more_rounds_to(value, 1e-6) == LIMIT
    assert more_rounds_to(value, 1e-6, limit=50) == 50
