"""Brent's root finder as a generator, so that many roots can be searched side by side.

:func:`brent_steps` is scipy's ``brentq`` (``scipy/optimize/Zeros/brentq.c``, Brent 1973,
*Algorithms for Minimization without Derivatives*, ch. 4) step for step, with the same
arithmetic, so it visits the same points and returns the same root, bit for bit, when it is sent
the same function values (tests/stats/test_brent.py checks it against ``scipy.optimize.brentq``).
Written by hand because scipy's loop calls the function itself: here the caller evaluates the
points, which lets :mod:`research.representativeness.at_scale_sensitivity` evaluate the current
point of every search in one engine pass over the rows.

Use::

    search = brent_steps(a, b, xtol=1e-10)
    x = next(search)
    while True:
        try:
            x = search.send(f(x))
        except StopIteration as done:
            root = done.value
            break
"""

from __future__ import annotations

import math
from collections.abc import Generator

import numpy as np

#: scipy's default relative tolerance of ``brentq`` (4 machine epsilons)
RTOL = 4 * np.finfo(float).eps
#: scipy's default iteration cap of ``brentq``
MAXITER = 100


def brent_steps(xa: float, xb: float, *, xtol: float = 2e-12, rtol: float = RTOL,
                maxiter: int = MAXITER) -> Generator[float, float, float]:
    """Yield the points at which ``f`` is needed (first ``xa``, then ``xb``); be sent ``f`` at
    each; return the root (``StopIteration.value``).

    Raises ValueError when ``f(xa)`` and ``f(xb)`` have the same sign, RuntimeError without
    convergence in ``maxiter`` iterations (as ``brentq`` with ``disp=True``).
    """
    xpre, xcur = float(xa), float(xb)
    xblk = fblk = spre = scur = 0.0
    fpre = float((yield xpre))
    fcur = float((yield xcur))
    if fpre == 0:
        return xpre
    if fcur == 0:
        return xcur
    if math.copysign(1.0, fpre) == math.copysign(1.0, fcur):
        raise ValueError("f(a) and f(b) must have different signs")
    for _ in range(maxiter):
        if fpre != 0 and fcur != 0 and math.copysign(1.0, fpre) != math.copysign(1.0, fcur):
            xblk, fblk = xpre, fpre
            spre = scur = xcur - xpre
        if abs(fblk) < abs(fcur):
            xpre, xcur, xblk = xcur, xblk, xcur
            fpre, fcur, fblk = fcur, fblk, fcur
        delta = (xtol + rtol * abs(xcur)) / 2
        sbis = (xblk - xcur) / 2
        if fcur == 0 or abs(sbis) < delta:
            return xcur
        if abs(spre) > delta and abs(fcur) < abs(fpre):
            if xpre == xblk:  # interpolate
                stry = -fcur * (xcur - xpre) / (fcur - fpre)
            else:  # extrapolate (inverse quadratic)
                dpre = (fpre - fcur) / (xpre - xcur)
                dblk = (fblk - fcur) / (xblk - xcur)
                stry = -fcur * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
            if 2 * abs(stry) < min(abs(spre), 3 * abs(sbis) - delta):  # good short step
                spre, scur = scur, stry
            else:  # bisect
                spre = scur = sbis
        else:  # bisect
            spre = scur = sbis
        xpre, fpre = xcur, fcur
        xcur += scur if abs(scur) > delta else (delta if sbis > 0 else -delta)
        fcur = float((yield xcur))
    raise RuntimeError(f"Brent's method did not converge in {maxiter} iterations")


def solve_together(searches: dict, evaluate) -> dict:
    """Run several :func:`brent_steps` searches side by side: ``searches`` maps a key to its
    generator; ``evaluate({key: x})`` returns ``{key: f_key(x)}`` for all the points at once (one
    pass over the data). Returns ``{key: root}``."""
    pending = {k: next(s) for k, s in searches.items()}
    roots = {}
    while pending:
        values = evaluate(pending)
        nxt = {}
        for k, x in pending.items():
            try:
                nxt[k] = searches[k].send(values[k])
            except StopIteration as done:
                roots[k] = done.value
        pending = nxt
    return roots
