"""The statistics of experiment results match a reference computation.

The reference values were computed once with SciPy 1.17.1 and statsmodels 0.15.0 (in a
scratch environment, not a dependency of eduengine) on the fixed data below and pinned
here:

    proportion_confint(8, 20, method="wilson")
    scipy.stats.t.interval(0.95, n - 1, loc=mean, scale=scipy.stats.sem(x))
    scipy.stats.ttest_ind(treated, control, equal_var=False).confidence_interval(0.95)
    scipy.stats.chisquare(counts, f_exp).pvalue, scipy.stats.t.ppf, scipy.stats.chi2.sf
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from eduengine.errors import InvalidInput
from eduengine.growth import stats

#: revenue per exposed student, a student who paid nothing as 0
CONTROL = [0] * 12 + [99] * 5 + [199] * 2 + [299]
TREATED = [0] * 9 + [79] * 7 + [159] * 3 + [239] * 2 + [399]

REL = 1e-9


def sample(values: list[int]) -> tuple[int, Decimal, Decimal]:
    return (len(values), Decimal(sum(values)), Decimal(sum(v * v for v in values)))


def test_wilson_intervals_match_statsmodels() -> None:
    assert stats.wilson(8, 20) == pytest.approx((0.21880653237281705, 0.6134184992377469), rel=REL)
    assert stats.wilson(13, 22) == pytest.approx((0.38734818476315125, 0.7674418380352814), rel=REL)
    assert stats.wilson(8, 20, confidence=0.9) == pytest.approx(
        (0.24238741776545158, 0.5814441497067414), rel=REL
    )


def test_wilson_interval_bounds_at_the_edges() -> None:
    assert stats.wilson(0, 0) == (0.0, 1.0)
    low, high = stats.wilson(0, 10)
    assert low == 0.0 and 0 < high < 1
    low, high = stats.wilson(10, 10)
    assert 0 < low < 1 and high == 1.0


def test_mean_intervals_match_scipy_t_interval() -> None:
    mean, low, high = stats.mean_interval(*sample(CONTROL))  # type: ignore[misc]
    assert float(mean) == pytest.approx(59.6, rel=REL)
    assert (float(low), float(high)) == pytest.approx(
        (18.49475310394091, 100.7052468960591), rel=REL
    )
    mean, low, high = stats.mean_interval(*sample(TREATED))  # type: ignore[misc]
    assert float(mean) == pytest.approx(86.68181818181819, rel=REL)
    assert (float(low), float(high)) == pytest.approx(
        (40.51655103790643, 132.84708532572995), rel=REL
    )
    assert stats.mean_interval(1, Decimal(5), Decimal(25)) is None


def test_welch_interval_matches_scipy_ttest_ind() -> None:
    found = stats.welch_interval(sample(CONTROL), sample(TREATED))
    assert found is not None
    diff, low, high, df = found
    assert float(diff) == pytest.approx(27.081818181818186, rel=REL)
    assert (float(low), float(high)) == pytest.approx(
        (-32.83120588441296, 86.99484224804934), rel=REL
    )
    assert df == pytest.approx(39.79370756673258, rel=REL)
    # no spread at all: no interval rather than a zero-width one
    assert stats.welch_interval((3, Decimal(3), Decimal(3)), (3, Decimal(6), Decimal(12))) is None


def test_sample_ratio_mismatch_p_values_match_scipy_chisquare() -> None:
    assert stats.srm_p_value([20, 22], [1, 1]) == pytest.approx(0.7576207236833966, rel=REL)
    assert stats.srm_p_value([5000, 5300], [1, 1]) == pytest.approx(0.003116693839866867, rel=REL)
    assert stats.srm_p_value([480, 1040, 510], [1, 2, 1]) == pytest.approx(
        0.3467631487646919, rel=REL
    )
    # a variant of weight 0 is left out; nobody exposed is no evidence of anything
    assert stats.srm_p_value([20, 22, 0], [1, 1, 0]) == pytest.approx(0.7576207236833966, rel=REL)
    assert stats.srm_p_value([0, 0], [1, 1]) == 1.0


@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [
        (0.975, 1, 12.706204736174694),
        (0.975, 3.5, 2.9400886379827282),
        (0.995, 29, 2.756385903670605),
        (0.6, 1000, 0.25341451583949876),
    ],
)
def test_t_quantiles_match_scipy(p: float, df: float, expected: float) -> None:
    assert stats.t_quantile(p, df) == pytest.approx(expected, rel=REL)
    assert stats.t_quantile(1 - p, df) == pytest.approx(-expected, rel=REL)


@pytest.mark.parametrize(
    ("x", "df", "expected"),
    [
        (0.5, 1, 0.47950012218695337),
        (30.0, 4, 4.894437128029217e-06),
        (2.0, 7, 0.9598403687301016),
        (150.0, 100, 0.0009039320423540184),
    ],
)
def test_chi_square_tails_match_scipy(x: float, df: int, expected: float) -> None:
    assert stats.chi2_sf(x, df) == pytest.approx(expected, rel=1e-8)


def test_bad_statistics_input_is_refused() -> None:
    with pytest.raises(InvalidInput):
        stats.wilson(3, 2)
    with pytest.raises(InvalidInput):
        stats.wilson(1, 2, confidence=1.5)
    with pytest.raises(InvalidInput):
        stats.srm_p_value([1, 2], [1])
