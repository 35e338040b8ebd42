"""The statistics of experiment results, in closed form with the standard library only:
Wilson score intervals for proportions, Student-t intervals for a mean, Welch's interval
for the difference of two means, and the chi-square test of a sample ratio mismatch.

Student's t and chi-square distributions are computed from the regularized incomplete
beta and gamma functions (continued fractions as in *Numerical Recipes*, accurate to
about 1e-12); tests/growth/test_stats.py checks them against SciPy's values.

>>> lo, hi = wilson(45, 100)
>>> round(lo, 4), round(hi, 4)
(0.3561, 0.5476)
>>> round(t_quantile(0.975, 10), 6)
2.228139
>>> round(chi2_sf(3.84145882, 1), 6)
0.05
>>> round(srm_p_value([5_000, 5_300], [1, 1]), 6)
0.003117
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from statistics import NormalDist

from eduengine.errors import InvalidInput

__all__ = [
    "chi2_sf",
    "mean_interval",
    "srm_p_value",
    "t_cdf",
    "t_quantile",
    "welch_interval",
    "wilson",
]

_EPS = 1e-15
_TINY = 1e-300


def _confidence(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise InvalidInput(f"confidence must be between 0 and 1, got {confidence!r}")
    return confidence


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n`` (``(0, 1)`` for
    ``n == 0``: nothing is known yet)."""
    if not 0 <= successes <= n:
        raise InvalidInput(f"successes must be from 0 to n, got {successes} of {n}")
    if n == 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(1 - (1 - _confidence(confidence)) / 2)
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # at 0 or n successes a bound is exactly 0 or 1: rounding would leave 1e-17
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def _beta_fraction(a: float, b: float, x: float) -> float:
    # the continued fraction of the incomplete beta function (modified Lentz)
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > _TINY else _TINY)
        c = 1 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > _TINY else _TINY)
        c = 1 + aa / c
        c = c if abs(c) > _TINY else _TINY
        step = d * c
        h *= step
        if abs(step - 1) < _EPS:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1 - front * _beta_fraction(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    """The probability that Student's t with ``df`` degrees of freedom is at most ``t``."""
    if df <= 0:
        raise InvalidInput(f"degrees of freedom must be above 0, got {df!r}")
    tail = 0.5 * _betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom."""
    if not 0 < p < 1:
        raise InvalidInput(f"p must be between 0 and 1, got {p!r}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13 * max(1.0, hi):
            break
    return (lo + hi) / 2


def _gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x)."""
    if x <= 0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        # the series of P(a, x)
        term = total = 1 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return 1 - total * math.exp(log_front)
    # the continued fraction of Q(a, x) (modified Lentz)
    b = x + 1 - a
    c = 1 / _TINY
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1 / (d if abs(d) > _TINY else _TINY)
        c = b + an / c
        c = c if abs(c) > _TINY else _TINY
        step = d * c
        h *= step
        if abs(step - 1) < _EPS:
            break
    return math.exp(log_front) * h


def chi2_sf(x: float, df: int) -> float:
    """The probability that a chi-square variable with ``df`` degrees of freedom exceeds
    ``x`` (the p-value of a chi-square statistic)."""
    if df < 1:
        raise InvalidInput(f"degrees of freedom must be at least 1, got {df!r}")
    return _gamma_q(df / 2, x / 2)


def srm_p_value(counts: Sequence[int], weights: Sequence[Decimal | int]) -> float:
    """The p-value of Pearson's chi-square test that ``counts`` (students exposed per
    variant) were drawn in the ratio of ``weights``; a small value (below 0.001) says the
    split is broken: a sample ratio mismatch. Variants of weight 0 are left out; 1.0
    when nobody was exposed."""
    if len(counts) != len(weights):
        raise InvalidInput(f"{len(counts)} counts for {len(weights)} weights")
    pairs = [(c, Decimal(w)) for c, w in zip(counts, weights, strict=True) if w > 0]
    n = sum(c for c, _ in pairs)
    total = sum(w for _, w in pairs)
    if n == 0 or len(pairs) < 2:
        return 1.0
    statistic = 0.0
    for count, weight in pairs:
        expected = n * float(weight / total)
        statistic += (count - expected) ** 2 / expected
    return chi2_sf(statistic, len(pairs) - 1)


def mean_interval(
    n: int, total: Decimal, squares: Decimal, confidence: float = 0.95
) -> tuple[Decimal, Decimal, Decimal] | None:
    """The mean of ``n`` values from their ``total`` and sum of ``squares``, with its
    Student-t interval ``(mean, low, high)``; ``None`` with fewer than two values."""
    if n < 2:
        return None
    mean = total / n
    variance = max((squares - total * total / n) / (n - 1), Decimal(0))
    half = Decimal(t_quantile(1 - (1 - _confidence(confidence)) / 2, n - 1)) * (variance / n).sqrt()
    return (mean, mean - half, mean + half)


def welch_interval(
    a: tuple[int, Decimal, Decimal],
    b: tuple[int, Decimal, Decimal],
    confidence: float = 0.95,
) -> tuple[Decimal, Decimal, Decimal, float] | None:
    """Welch's interval of ``mean(b) - mean(a)``, each sample given as ``(n, total, sum
    of squares)``: ``(difference, low, high, degrees of freedom)``; ``None`` when a
    sample has fewer than two values or neither varies."""
    (na, ta, sa), (nb, tb, sb) = a, b
    if na < 2 or nb < 2:
        return None
    va = max((sa - ta * ta / na) / (na - 1), Decimal(0)) / na
    vb = max((sb - tb * tb / nb) / (nb - 1), Decimal(0)) / nb
    if va + vb == 0:
        return None
    df = float((va + vb) ** 2 / (va * va / (na - 1) + vb * vb / (nb - 1)))
    diff = tb / nb - ta / na
    half = Decimal(t_quantile(1 - (1 - _confidence(confidence)) / 2, df)) * (va + vb).sqrt()
    return (diff, diff - half, diff + half, df)
