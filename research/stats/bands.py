"""Handling-time bands: hours from creation to resolution cut into ordered bands (the
``handling_band`` margin of the non-response weights, docs/methods.md).

:func:`handling_band` cuts right-closed at the plan's ``bands_hours``; :func:`band_labels`
names the bands (``0-4h``, ``1-3d``, ``>7d``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["BAND_LABELS", "BAND_EDGES_HOURS", "band_labels", "handling_band"]

#: Handling-time band labels, in order (default edges).
BAND_LABELS = ("0-4h", "4-24h", "1-3d", "3-7d", ">7d")
#: Band edges in hours; right-closed: [0, 4], (4, 24], (24, 72], (72, 168], (168, inf].
BAND_EDGES_HOURS = (0.0, 4.0, 24.0, 72.0, 168.0, np.inf)


def _num(x: float) -> str:
    return f"{x:g}"


def band_labels(inner_edges) -> tuple[str, ...]:
    """Labels of the bands cut at ``inner_edges`` (hours, increasing, positive).

    ``(4, 24, 72, 168)`` gives ``("0-4h", "4-24h", "1-3d", "3-7d", ">7d")``: a band
    is written in days when its upper edge is above a day and both edges are
    whole days, in hours otherwise.
    """
    edges = [0.0, *map(float, inner_edges)]
    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi > 24 and lo % 24 == 0 and hi % 24 == 0:
            out.append(f"{_num(lo / 24)}-{_num(hi / 24)}d")
        else:
            out.append(f"{_num(lo)}-{_num(hi)}h")
    top = edges[-1]
    out.append(f">{_num(top / 24)}d" if top >= 24 and top % 24 == 0 else f">{_num(top)}h")
    return tuple(out)


def handling_band(hours, inner_edges=BAND_EDGES_HOURS[1:-1]) -> pd.Categorical:
    """Handling time (hours, ``resolved_at - created_at``) to an ordered handling band.

    Bands are right-closed and cut at ``inner_edges`` (hours); with the default
    ``(4, 24, 72, 168)``: ``0-4h`` = [0, 4] h (0 h included), ``4-24h`` = (4, 24] h,
    ``1-3d`` = (24, 72] h, ``3-7d`` = (72, 168] h, ``>7d`` = over 168 h.
    Missing or negative hours give a missing band (NaN).

    Returns an ordered ``pd.Categorical`` with categories :func:`band_labels`.
    """
    inner = [float(e) for e in inner_edges]
    if not inner or any(e <= 0 for e in inner) or sorted(set(inner)) != inner:
        raise ValueError(f"band edges must be increasing positive hours, got {inner_edges!r}")
    labels = list(band_labels(inner))
    h = pd.to_numeric(pd.Series(hours, copy=False), errors="coerce").astype("float64")
    cut = pd.cut(h.to_numpy(dtype="float64", na_value=np.nan), bins=[0.0, *inner, np.inf],
                 right=True, include_lowest=True, labels=labels)
    return pd.Categorical(cut, categories=labels, ordered=True)
