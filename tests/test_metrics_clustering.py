"""Davies-Bouldin, Calinski-Harabasz and k-means agreement: values, undefined cases, settings."""

import logging
import math

import numpy as np
import pytest
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from numgeom_core.errors import ConfigError, MetricError
from numgeom_core.metrics import (
    METRICS,
    MetricsConfig,
    MetricSpec,
    MetricValue,
    compute_geometry_metrics,
    metric_spec,
)

pytestmark = pytest.mark.filterwarnings("error")

FIXED_NAMES = ["silhouette", "davies_bouldin", "calinski_harabasz", "kmeans_ari", "kmeans_nmi"]


def values_by_name(values: list[MetricValue]) -> dict[str, MetricValue]:
    return {value.name: value for value in values}


def unit_rows(X: np.ndarray) -> np.ndarray:
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def tight_families(per_family: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Three families of unit vectors close to the three coordinate axes of R^3."""
    rng = np.random.default_rng(seed)
    axes = np.eye(3)
    X = np.repeat(axes, per_family, axis=0) + 0.05 * rng.normal(size=(3 * per_family, 3))
    labels = [name for name in ("primes", "squares", "cubes") for _ in range(per_family)]
    return unit_rows(X), labels


def test_metrics_come_in_fixed_order():
    X, labels = tight_families(10, seed=0)
    attributes = {"length": [4, 5] * 15, "parity": [0, 1, 1] * 10}

    names = [
        value.name for value in compute_geometry_metrics(X, labels, attributes, MetricsConfig())
    ]

    assert names == [*FIXED_NAMES, "kmeans_nmi_length", "kmeans_nmi_parity"]


def test_perfect_clusters_give_ari_and_nmi_of_one():
    X, labels = tight_families(20, seed=1)

    values = values_by_name(compute_geometry_metrics(X, labels, {}, MetricsConfig()))

    assert values["kmeans_ari"].value == pytest.approx(1.0)
    assert values["kmeans_nmi"].value == pytest.approx(1.0)


def test_label_metrics_of_plane_pairs_match_hand_values():
    # A = {(1, 0), (0.6, 0.8)} and B = {(0, 1), (-0.6, 0.8)} have centroids c_A = (0.8, 0.4)
    # and c_B = (-0.3, 0.9). The overall mean is (0.25, 0.65).
    # Davies-Bouldin: every row of A lies sqrt(0.2) from c_A, every row of B sqrt(0.1) from
    # c_B, and ||c_A - c_B|| = ||(1.1, -0.5)|| = sqrt(1.46), so
    # DB = (sqrt(0.2) + sqrt(0.1)) / sqrt(1.46) = 0.63183.
    # Calinski-Harabasz: B = 2 ||(0.55, -0.25)||² + 2 ||(-0.55, 0.25)||² = 1.46,
    # W = 2 × 0.2 + 2 × 0.1 = 0.6, CH = (B / (k - 1)) / (W / (n - k)) = 1.46 / 0.3 = 4.8667.
    X = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-0.6, 0.8]])
    labels = ["A", "A", "B", "B"]

    values = values_by_name(compute_geometry_metrics(X, labels, {}, MetricsConfig()))

    assert values["davies_bouldin"].value == pytest.approx(
        (math.sqrt(0.2) + math.sqrt(0.1)) / math.sqrt(1.46), abs=1e-12
    )
    assert values["calinski_harabasz"].value == pytest.approx(1.46 / 0.3, abs=1e-12)
    assert values["silhouette"].value == pytest.approx((9 / 13 + 3 / 23 + 2 / 3 + 24 / 29) / 4)


def test_label_metrics_equal_scikit_learn_on_random_data():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 12)).astype(np.float32)
    labels = (np.arange(300) % 5).tolist()
    X64 = unit_rows(X.astype(np.float64))

    values = values_by_name(compute_geometry_metrics(X, labels, {}, MetricsConfig()))

    assert values["silhouette"].value == pytest.approx(
        silhouette_score(X64, labels, metric="cosine"), abs=1e-9
    )
    assert values["davies_bouldin"].value == pytest.approx(
        davies_bouldin_score(X64, labels), rel=1e-9
    )
    assert values["calinski_harabasz"].value == pytest.approx(
        calinski_harabasz_score(X64, labels), rel=1e-9
    )


def test_attribute_nmi_scores_kmeans_clusters_against_attribute():
    X, labels = tight_families(10, seed=3)
    # "same_as_family" renames the family labels, so its NMI equals kmeans_nmi, which is 1.
    # "alternating" is balanced within every family, so the clusters carry no information
    # about it and its NMI is 0.
    attributes = {
        "same_as_family": [{"primes": 2, "squares": 4, "cubes": 8}[name] for name in labels],
        "alternating": [0, 1] * 15,
    }

    values = values_by_name(compute_geometry_metrics(X, labels, attributes, MetricsConfig()))

    assert values["kmeans_nmi_same_as_family"].value == pytest.approx(1.0)
    assert values["kmeans_nmi_alternating"].value == pytest.approx(0.0, abs=1e-12)


def test_one_family_label_leaves_every_metric_undefined():
    X, _ = tight_families(4, seed=4)

    values = compute_geometry_metrics(X, ["primes"] * 12, {"length": [4, 5] * 6}, MetricsConfig())

    assert [value.name for value in values] == [*FIXED_NAMES, "kmeans_nmi_length"]
    for value in values:
        assert value.value is None
        assert value.reason == "only one family label: 'primes'"


def test_one_sample_per_label_leaves_indices_undefined():
    X = np.eye(3)

    values = values_by_name(compute_geometry_metrics(X, ["a", "b", "c"], {}, MetricsConfig()))

    for name in ("silhouette", "davies_bouldin", "calinski_harabasz"):
        assert values[name].value is None
        assert "3 samples for 3 family labels" in values[name].reason
    # k-means with k = n puts each point in its own cluster, which matches the labels.
    assert values["kmeans_ari"].value == pytest.approx(1.0)


def test_constant_attribute_leaves_its_nmi_undefined():
    X, labels = tight_families(5, seed=5)

    values = values_by_name(
        compute_geometry_metrics(X, labels, {"parity": [1] * 15}, MetricsConfig())
    )

    assert values["kmeans_nmi_parity"].value is None
    assert "takes the single value 1" in values["kmeans_nmi_parity"].reason
    assert "degenerate" in values["kmeans_nmi_parity"].reason


def test_identical_points_leave_dispersion_and_kmeans_undefined():
    X = np.tile([[0.6, 0.8, 0.0]], (6, 1)).astype(np.float32)
    labels = ["a", "a", "a", "b", "b", "b"]

    values = values_by_name(
        compute_geometry_metrics(X, labels, {"length": [3, 4] * 3}, MetricsConfig())
    )

    # a(i) = b(i) = 0 everywhere, and Rousseeuw defines s(i) = 0 when a(i) = b(i).
    assert values["silhouette"].value == 0.0
    assert values["davies_bouldin"].value is None
    assert "centroids of family labels 'a' and 'b' coincide" in values["davies_bouldin"].reason
    assert values["calinski_harabasz"].value is None
    assert "within-family dispersion W is zero" in values["calinski_harabasz"].reason
    for name in ("kmeans_ari", "kmeans_nmi", "kmeans_nmi_length"):
        assert values[name].value is None
        assert "only 1 distinct points" in values[name].reason


def test_coinciding_centroids_leave_davies_bouldin_undefined():
    # A = {(1, 0), (-1, 0)} and B = {(0, 1), (0, -1)} both have centroid (0, 0) while their
    # spread is 1, so (s_A + s_B) / d(c_A, c_B) = 2 / 0. Between-family dispersion is 0,
    # so CH = 0 is defined.
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])

    values = values_by_name(compute_geometry_metrics(X, ["A", "A", "B", "B"], {}, MetricsConfig()))

    assert values["davies_bouldin"].value is None
    assert "'A' and 'B' coincide" in values["davies_bouldin"].reason
    assert values["calinski_harabasz"].value == pytest.approx(0.0, abs=1e-12)


def test_identical_family_members_leave_ch_undefined():
    # W = 0 and B > 0, so CH = B (n - k) / (W (k - 1)) is infinite, while DB = (0 + 0) / 1 = 0.
    X = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])

    values = values_by_name(compute_geometry_metrics(X, ["A", "A", "B", "B"], {}, MetricsConfig()))

    assert values["calinski_harabasz"].value is None
    assert values["davies_bouldin"].value == 0.0
    assert values["silhouette"].value == pytest.approx(1.0)


def test_undefined_metrics_are_logged_at_info(caplog):
    X, labels = tight_families(5, seed=6)

    with caplog.at_level(logging.INFO, logger="numgeom_core.metrics"):
        compute_geometry_metrics(X, labels, {"parity": [0] * 15}, MetricsConfig())

    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("Metric kmeans_nmi_parity is undefined: attribute") for m in messages)


def test_mismatched_lengths_raise_naming_every_size():
    X, labels = tight_families(5, seed=7)
    message = (
        "the embeddings have 15 rows, labels has 14, attribute 'length' has 15, "
        "attribute 'parity' has 16"
    )

    with pytest.raises(MetricError, match=message):
        compute_geometry_metrics(
            X, labels[:14], {"length": [4] * 15, "parity": [0] * 16}, MetricsConfig()
        )


def test_non_finite_embeddings_raise_naming_rows():
    X, labels = tight_families(5, seed=8)
    X[9, 2] = np.inf

    with pytest.raises(MetricError, match=r"nan or inf in 1 of 15 rows \(first rows: \[9\]\)"):
        compute_geometry_metrics(X, labels, {}, MetricsConfig())


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.ones(4), "must be a 2-D array"),
        (np.ones((4, 2), dtype=np.int64), "must be float32 or float64"),
        (np.ones((0, 2)), "are empty"),
    ],
)
def test_malformed_embeddings_raise(X, message):
    with pytest.raises(MetricError, match=message):
        compute_geometry_metrics(X, [0, 1, 0, 1][: len(X)], {}, MetricsConfig())


def test_invalid_attribute_name_raises():
    X, labels = tight_families(5, seed=9)

    with pytest.raises(MetricError, match="Invalid attribute name 'first term'"):
        compute_geometry_metrics(X, labels, {"first term": [0] * 15}, MetricsConfig())


def test_unhashable_label_raises():
    X = np.eye(3)

    with pytest.raises(MetricError, match=r"value \[1\] at position 1 is not hashable"):
        compute_geometry_metrics(X, ["a", [1], "a"], {}, MetricsConfig())


def test_embedding_scale_does_not_change_metrics():
    X, labels = tight_families(8, seed=10)
    config = MetricsConfig()

    unit = compute_geometry_metrics(X, labels, {}, config)
    scaled = compute_geometry_metrics(X * 1e3, labels, {}, config)

    for before, after in zip(unit, scaled, strict=True):
        assert after.value == pytest.approx(before.value, rel=1e-9)


def corners_at_40_degrees() -> tuple[np.ndarray, list[str]]:
    """Four unit vectors at ±40° and 180° ± 40°, labelled by the sign of x.

    Pairing by the sign of x gives k-means inertia 4 sin²40° = 1.65, pairing by the sign of y
    gives 4 cos²40° = 2.35. Both are fixed points of Lloyd's algorithm, so a single k-means++
    start that draws both first centres on the right lands in the worse one (ARI = -0.5).
    """
    angle = math.radians(40)
    c, s = math.cos(angle), math.sin(angle)
    X = np.array([[c, s], [c, -s], [-c, s], [-c, -s]])
    return X, ["right", "right", "left", "left"]


def kmeans_ari(X: np.ndarray, labels: list, config: MetricsConfig) -> float:
    return values_by_name(compute_geometry_metrics(X, labels, {}, config))["kmeans_ari"].value


@pytest.fixture(scope="module")
def single_init_ari_by_seed() -> dict[int, float]:
    """kmeans_ari on the 40° corners with kmeans_n_init=1, for seeds 0 to 99, rounded."""
    X, labels = corners_at_40_degrees()
    return {
        seed: round(kmeans_ari(X, labels, MetricsConfig(kmeans_n_init=1, seed=seed)), 9)
        for seed in range(100)
    }


def test_kmeans_seed_selects_between_optima_with_one_init(single_init_ari_by_seed):
    assert sorted(set(single_init_ari_by_seed.values())) == [-0.5, 1.0]


def test_kmeans_n_init_finds_better_optimum(single_init_ari_by_seed):
    X, labels = corners_at_40_degrees()
    worse_seeds = [seed for seed, ari in single_init_ari_by_seed.items() if ari < 0]

    assert worse_seeds
    for seed in worse_seeds:
        config = MetricsConfig(kmeans_n_init=10, seed=seed)
        assert kmeans_ari(X, labels, config) == pytest.approx(1.0), seed


def test_kmeans_max_iter_of_one_stops_before_convergence():
    # 40 evenly spaced unit vectors on a quarter circle. One Lloyd step from the k-means++
    # start does not reach the fixed point that 300 steps reach.
    angles = np.linspace(0.0, math.pi / 2, 40)
    X = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    labels = [0] * 20 + [1] * 20

    one_step = kmeans_ari(X, labels, MetricsConfig(kmeans_n_init=1, kmeans_max_iter=1))
    converged = kmeans_ari(X, labels, MetricsConfig(kmeans_n_init=1, kmeans_max_iter=300))

    assert one_step != pytest.approx(converged, abs=1e-3)


def test_silhouette_block_size_changes_no_metric():
    X, labels = tight_families(30, seed=11)

    small = compute_geometry_metrics(X, labels, {}, MetricsConfig(silhouette_block_size=1))
    large = compute_geometry_metrics(X, labels, {}, MetricsConfig(silhouette_block_size=4096))

    for a, b in zip(small, large, strict=True):
        assert a.value == pytest.approx(b.value, abs=1e-12)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kmeans_n_init", 0, "Invalid kmeans_n_init 0"),
        ("kmeans_n_init", 2.0, "Invalid kmeans_n_init 2.0"),
        ("kmeans_max_iter", 0, "Invalid kmeans_max_iter 0"),
        ("kmeans_max_iter", True, "Invalid kmeans_max_iter True"),
        ("seed", -1, "Invalid seed -1"),
        ("seed", 2**32, "Invalid seed 4294967296"),
        ("seed", "0", "Invalid seed '0'"),
        ("silhouette_block_size", 0, "Invalid silhouette block size 0"),
    ],
)
def test_metrics_config_rejects_invalid_field(field, value, message):
    with pytest.raises(ConfigError, match=message):
        MetricsConfig(**{field: value})


def test_registry_lists_fixed_metrics_with_ranges():
    assert list(METRICS) == FIXED_NAMES
    assert METRICS["silhouette"].valid_range == (-1.0, 1.0)
    assert METRICS["davies_bouldin"].valid_range == (0.0, math.inf)
    assert METRICS["davies_bouldin"].higher_is_better is False
    assert METRICS["calinski_harabasz"].valid_range == (0.0, math.inf)
    assert METRICS["kmeans_ari"].valid_range == (-0.5, 1.0)
    assert METRICS["kmeans_nmi"].valid_range == (0.0, 1.0)
    assert "Rousseeuw" in METRICS["silhouette"].reference


def test_metric_spec_builds_attribute_entries():
    spec = metric_spec("kmeans_nmi_magnitude")

    assert spec.name == "kmeans_nmi_magnitude"
    assert spec.valid_range == (0.0, 1.0)
    assert spec.higher_is_better is None
    assert "magnitude" in spec.description
    assert metric_spec("silhouette") is METRICS["silhouette"]


@pytest.mark.parametrize("name", ["accuracy", "kmeans_nmi_", "kmeans_nmi_first term"])
def test_metric_spec_rejects_unknown_name(name):
    with pytest.raises(MetricError, match="Unknown metric"):
        metric_spec(name)


def test_every_computed_value_lies_in_its_valid_range():
    rng = np.random.default_rng(12)
    X = rng.normal(size=(200, 8))
    labels = (np.arange(200) % 4).tolist()

    values = compute_geometry_metrics(X, labels, {"length": [4, 5] * 100}, MetricsConfig())

    for value in values:
        low, high = metric_spec(value.name).valid_range
        assert low <= value.value <= high, value.name


@pytest.mark.parametrize(
    ("value", "reason"), [(None, None), (0.5, "both given"), (math.nan, None), (math.inf, None)]
)
def test_metric_value_rejects_inconsistent_fields(value, reason):
    with pytest.raises(MetricError):
        MetricValue("silhouette", value, reason)


def test_metric_spec_rejects_reversed_range():
    with pytest.raises(MetricError, match="Invalid valid_range"):
        MetricSpec("x", "", True, (1.0, 0.0), "")
