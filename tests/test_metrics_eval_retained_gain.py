"""Retained gain of a merged model over the LoRA adapter's gain, and its interval."""

import math

import numpy as np
import pytest

from numgeom_core.errors import ConfigError, MetricError
from numgeom_core.metrics import retained_gain, retained_gain_interval

pytestmark = pytest.mark.filterwarnings("error")


def test_retained_gain_of_higher_is_better_metric():
    # Silhouette: base 0.2, LoRA 0.6, merged 0.5. Gain kept (0.5 - 0.2) / (0.6 - 0.2) = 0.75.
    value = retained_gain(0.5, 0.2, 0.6, higher_is_better=True)

    assert value.name == "retained_gain"
    assert value.value == pytest.approx(0.75)


def test_retained_gain_of_lower_is_better_metric():
    # Davies-Bouldin: base 3, LoRA 2, merged 2.5. (2.5 - 3) / (2 - 3) = 0.5.
    assert retained_gain(2.5, 3.0, 2.0, higher_is_better=False).value == pytest.approx(0.5)


@pytest.mark.parametrize(("method", "expected"), [(0.2, 0.0), (0.6, 1.0), (0.1, -0.25), (0.8, 1.5)])
def test_retained_gain_spans_base_to_beyond_lora(method, expected):
    assert retained_gain(method, 0.2, 0.6, higher_is_better=True).value == pytest.approx(expected)


@pytest.mark.parametrize(
    ("base", "lora", "higher_is_better"),
    [(0.6, 0.2, True), (0.4, 0.4, True), (2.0, 3.0, False), (0.4, 0.4 + 1e-7, True)],
)
def test_retained_gain_without_lora_gain_is_undefined(base, lora, higher_is_better):
    value = retained_gain(0.5, base, lora, higher_is_better, metric="silhouette")

    assert value.value is None
    assert value.reason.startswith("LoRA did not improve silhouette over base (")


def test_min_gain_sets_the_smallest_counted_gain():
    assert retained_gain(0.41, 0.4, 0.42, True, min_gain=0.01).value == pytest.approx(0.5)
    assert retained_gain(0.41, 0.4, 0.42, True, min_gain=0.05).value is None


def test_retained_gain_of_undefined_metric_is_undefined():
    value = retained_gain(None, 0.2, None, True, metric="davies_bouldin")

    assert value.value is None
    assert value.reason == "davies_bouldin is undefined for the method and lora model"


def test_retained_gain_rejects_nan():
    with pytest.raises(MetricError, match="never nan or inf"):
        retained_gain(math.nan, 0.2, 0.6, True)


@pytest.mark.parametrize("min_gain", [-1.0, math.inf, "0"])
def test_retained_gain_rejects_invalid_min_gain(min_gain):
    with pytest.raises(ConfigError, match="Invalid min_gain"):
        retained_gain(0.5, 0.2, 0.6, True, min_gain=min_gain)


def test_interval_of_constant_ratio_is_a_point():
    # Every resample keeps exactly 3/4 of the gain, whatever the base and LoRA values.
    base = np.linspace(0.1, 0.3, 40)
    lora = base + 0.4
    method = base + 0.3
    point = retained_gain(0.5, 0.2, 0.6, True)

    interval = retained_gain_interval(method, base, lora, point, higher_is_better=True)

    assert interval.low == pytest.approx(0.75)
    assert interval.high == pytest.approx(0.75)
    assert interval.point == pytest.approx(0.75)


def test_interval_counts_undefined_resamples():
    # Resample 0 has an undefined metric, resample 1 no LoRA gain, and the other 8 keep
    # (2.5 - 3) / (2 - 3) = 0.5 on a lower-is-better metric.
    base = np.full(10, 3.0)
    lora = np.full(10, 2.0)
    method = np.full(10, 2.5)
    method[0] = np.nan
    lora[1] = 3.5
    point = retained_gain(2.5, 3.0, 2.0, False)

    interval = retained_gain_interval(method, base, lora, point, higher_is_better=False)

    assert interval.undefined_resamples == 2
    assert interval.resamples_used == 8
    assert interval.low == pytest.approx(0.5)
    assert interval.high == pytest.approx(0.5)


def test_interval_undefined_when_point_is():
    point = retained_gain(0.5, 0.6, 0.2, True, metric="silhouette")
    ones = np.ones(5)

    interval = retained_gain_interval(ones, ones, ones, point, higher_is_better=True)

    assert interval.reason.startswith("undefined on the full sample: LoRA did not improve")


def test_interval_rejects_unpaired_replicates():
    point = retained_gain(0.5, 0.2, 0.6, True)

    with pytest.raises(MetricError, match=r"shapes \[\(5,\), \(5,\), \(4,\)\]"):
        retained_gain_interval(np.ones(5), np.ones(5), np.ones(4), point, True)
