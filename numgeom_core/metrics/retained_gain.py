"""Share of the LoRA adapter's gain over the base model that a merged model keeps.

retained_gain = (m(method) - m(base)) / (m(lora) - m(base)) for one metric m. 1 means the
merged model matches the adapter, 0 means it is back at the base model, a negative value
means it is worse than the base model, and a value above 1 means it beats the adapter. The
formula needs no change for lower-is-better metrics: numerator and denominator change sign
together. This is the project's own summary of the study's question, not a published index.
"""

import math

import numpy as np

from numgeom_core.errors import ConfigError, MetricError
from numgeom_core.metrics.bootstrap import Interval, interval_from_replicates
from numgeom_core.metrics.registry import MetricValue


def validate_min_gain(min_gain: object) -> float:
    """Return `min_gain` if it is a finite float >= 0; raise ConfigError otherwise."""
    valid_number = isinstance(min_gain, int | float) and not isinstance(min_gain, bool)
    if not valid_number or not (math.isfinite(min_gain) and min_gain >= 0):
        raise ConfigError(
            f"Invalid min_gain {min_gain!r}: expected a finite float >= 0 (default 1e-6), the "
            "smallest improvement of LoRA over base that counts as a gain."
        )
    return float(min_gain)


def retained_gain(
    metric_method: float | None,
    metric_base: float | None,
    metric_lora: float | None,
    higher_is_better: bool,
    min_gain: float = 1e-6,
    metric: str = "the metric",
) -> MetricValue:
    """Compute the retained gain of a merged model, MetricValue "retained_gain".

    metric_method, metric_base, metric_lora: one metric of the merged model, the base model
    and the LoRA model on the same samples, or None where that metric is undefined.
    higher_is_better: the metric's direction. Undefined, with the reason, when an input is
    None, or when LoRA does not improve the metric over base by at least min_gain in that
    direction: then there is no gain to retain. `metric` names the metric in that reason.
    Raises MetricError for nan or inf inputs.
    """
    min_gain = validate_min_gain(min_gain)
    if not isinstance(higher_is_better, bool):
        raise ConfigError(f"Invalid higher_is_better {higher_is_better!r}: expected a bool.")
    values = {"method": metric_method, "base": metric_base, "lora": metric_lora}
    for model, value in values.items():
        if value is not None and not math.isfinite(value):
            raise MetricError(
                f"{metric} of the {model} model is {value!r}: pass None for an undefined "
                "metric, never nan or inf."
            )
    missing = [model for model, value in values.items() if value is None]
    if missing:
        reason = f"{metric} is undefined for the {' and '.join(missing)} model"
        return MetricValue("retained_gain", None, reason)

    gain = metric_lora - metric_base if higher_is_better else metric_base - metric_lora
    if gain < min_gain:
        direction = "higher" if higher_is_better else "lower"
        reason = (
            f"LoRA did not improve {metric} over base (base {metric_base:.6g}, LoRA "
            f"{metric_lora:.6g}, {direction} is better, and the improvement {gain:.3g} is "
            f"below min_gain {min_gain:g}), so there is no gain to retain"
        )
        return MetricValue("retained_gain", None, reason)
    value = (metric_method - metric_base) / (metric_lora - metric_base)
    return MetricValue("retained_gain", float(value), None)


def retained_gain_interval(
    method_replicates: np.ndarray,
    base_replicates: np.ndarray,
    lora_replicates: np.ndarray,
    point: MetricValue,
    higher_is_better: bool,
    level: float = 0.95,
    min_gain: float = 1e-6,
) -> Interval:
    """Compute a percentile interval of the retained gain from paired bootstrap replicates.

    The three arrays [resamples] hold one metric of the merged, base and LoRA models on the
    same resamples (drawn with the same seed and labels), nan where the metric is undefined.
    point: `retained_gain` of the full-sample values. A resample is undefined where a
    replicate is nan or LoRA's improvement is below min_gain, and the interval is undefined
    when more than half are. NOTE: where the improvement is barely above min_gain in some
    resamples, their ratios are large and the interval wide; that width is real uncertainty.
    """
    min_gain = validate_min_gain(min_gain)
    arrays = [np.asarray(a, dtype=np.float64) for a in (method_replicates, base_replicates)]
    arrays.append(np.asarray(lora_replicates, dtype=np.float64))
    shapes = [array.shape for array in arrays]
    if any(len(shape) != 1 for shape in shapes) or len(set(shapes)) != 1:
        raise MetricError(
            f"Replicates of the method, base and LoRA models must be 1-D arrays of one "
            f"length, got shapes {shapes}: draw them with the same resamples and seed."
        )
    method, base, lora = arrays
    if np.isinf(arrays).any():
        raise MetricError("Replicates contain inf: mark an undefined resample with nan.")

    gain = lora - base if higher_is_better else base - lora  # [resamples], nan propagates
    defined = np.isfinite(method) & (gain >= min_gain)  # nan compares False
    replicates = np.full(method.shape, np.nan)  # [resamples]
    replicates[defined] = (method[defined] - base[defined]) / (lora[defined] - base[defined])
    return interval_from_replicates(replicates, point.value, level, point.reason)
