"""Percentiles read from the rollups' histograms (ordertrack/store/rollups.py): exact where a
bucket's values are equal, within the stated accuracy otherwise, as percentile_cont reads."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordertrack.store import rollups


def histogram(values: list[float]) -> list[tuple[int, int, float]]:
    cells: dict[int, list] = {}
    for value in values:
        cell = cells.setdefault(rollups.bucket(value), [0, 0.0])
        cell[0] += 1
        cell[1] += value
    return [(b, n, total) for b, (n, total) in cells.items()]


def percentile_cont(values: list[float], share: float) -> float:
    ordered = sorted(values)
    rank = share * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def test_values_each_alone_in_their_bucket_give_percentile_conts_exact_answer():
    count, p50, p90 = rollups.percentiles(histogram([48, 4, 24]), (0.5, 0.9))
    assert count == 3 and p50 == pytest.approx(24) and p90 == pytest.approx(43.2)


def test_an_empty_histogram_has_no_percentiles_and_zero_durations_count():
    assert rollups.percentiles([], (0.5,)) == (0, None)
    assert rollups.percentiles(histogram([0, 0, 2]), (0.5,)) == (3, 0)
    assert rollups.bucket(0) == rollups.ZERO < rollups.bucket(1e-9)
    # Three minutes or less share one bucket: their mean stands for them.
    assert rollups.bucket(0.04, rollups.SHORTEST_HOURS) == rollups.ZERO
    assert rollups.bucket(0.06, rollups.SHORTEST_HOURS) > rollups.ZERO


def test_a_bucket_holds_values_within_the_accuracy_of_each_other():
    for value in (0.01, 1, 36, 1000):
        same = rollups.bucket(value)
        assert rollups.bucket(value * (1 + rollups.ACCURACY)) in (same, same + 1)
        assert rollups.bucket(value * (1 + 3 * rollups.ACCURACY)) > same


@given(
    values=st.lists(st.floats(min_value=0.01, max_value=5000), min_size=1, max_size=300),
    share=st.sampled_from((0.5, 0.9, 0.99)),
)
def test_any_percentile_is_within_the_accuracy_of_the_exact_one(values, share):
    (_, estimate) = rollups.percentiles(histogram(values), (share,))
    exact = percentile_cont(values, share)
    # Each rank's value is its bucket's mean: within 2 x ACCURACY of any value in it.
    assert estimate == pytest.approx(exact, rel=2 * rollups.ACCURACY)
