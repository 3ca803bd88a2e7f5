"""research.stats.brent: scipy's brentq step for step (the same root bit for bit), run side by side."""

import numpy as np
import pytest
from scipy import optimize
from scipy.special import expit

from research.stats.brent import brent_steps, solve_together


def _one(f, a, b, **kw):
    return solve_together({0: brent_steps(a, b, **kw)}, lambda pending: {k: f(x) for k, x in pending.items()})[0]


def test_the_same_root_as_scipy_bit_for_bit():
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(120):
        es = rng.normal(rng.normal(), rng.uniform(0.1, 3), size=rng.integers(1, 40))
        fixed = rng.uniform(0, 10)
        n = fixed + len(es) + rng.uniform(0, 5)
        target = rng.uniform(fixed / n + 1e-6, (fixed + len(es)) / n - 1e-6)

        def f(d, es=es, fixed=fixed, n=n, target=target):
            return (fixed + float(expit(es + d).sum())) / n - target

        if f(-20.0) * f(20.0) >= 0:
            continue
        assert _one(f, -20.0, 20.0, xtol=1e-10) == optimize.brentq(f, -20.0, 20.0, xtol=1e-10)
        c = rng.normal(size=4)  # a cubic: interpolation, extrapolation and bisection steps
        g = lambda x, c=c: float(np.polyval(c, x))  # noqa: E731
        if g(-3.0) * g(3.0) < 0:
            assert _one(g, -3.0, 3.0, xtol=1e-12) == optimize.brentq(g, -3.0, 3.0, xtol=1e-12)
        checked += 1
    assert checked > 50


def test_searches_side_by_side_and_the_errors():
    roots = solve_together({k: brent_steps(0.0, 4.0) for k in (1, 2, 3)},
                           lambda pending: {k: x * x - k for k, x in pending.items()})
    np.testing.assert_allclose([roots[k] for k in (1, 2, 3)], np.sqrt([1, 2, 3]), rtol=1e-11)
    with pytest.raises(ValueError, match="different signs"):
        _one(lambda x: x * x + 1, -1.0, 1.0)
    with pytest.raises(RuntimeError, match="did not converge"):
        _one(lambda x: x ** 3 - 2, 0.0, 4.0, maxiter=2)
