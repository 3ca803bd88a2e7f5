"""Small drawing and Arrow-string helpers shared by the simulator's steps (categorical draws, cuts,
ticket clocks, ID-card numbers with valid check digits).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from research.simulate.params import _ID_AREAS, _ID_CHECK, _ID_WEIGHTS, _MINUTES_PER_DAY


def _draw_cat(rng: np.random.Generator, table: np.ndarray, row: np.ndarray | None, size: int) -> np.ndarray:
    """Draw category indices; ``table[row]`` holds each draw's probabilities."""
    table = np.asarray(table, dtype=float)
    table = table / table.sum(axis=-1, keepdims=True)
    cum = np.cumsum(table, axis=-1)
    u = rng.random(size)
    out = np.zeros(size, dtype=np.int64)
    for j in range(table.shape[-1] - 1):
        out += u >= (cum[j] if row is None else cum[row, j])
    return out


def _cut(latent: np.ndarray, cutpoints) -> np.ndarray:
    out = np.ones(len(latent), dtype=np.int64)
    for c in cutpoints:
        out += latent > c
    return out

_STR = pa.large_string()  # what pandas' Arrow-backed string arrays hold: no copy on conversion


def _strings(values) -> pa.Array:
    return pa.array(list(values), type=_STR)


def _take(table: pa.Array, idx: np.ndarray) -> pa.Array:
    return table.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _join(*parts: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(*parts, pa.scalar("", type=_STR))


def _log2h(hours: np.ndarray) -> np.ndarray:
    return np.log2(1.0 + hours)


class _Clock:
    """Formats minute offsets from ``start`` in the two export styles."""

    def __init__(self, start: pd.Timestamp, n_days: int):
        days = pd.date_range(start, periods=n_days, freq="D")
        iso = [f"{d.year:04d}-{d.month:02d}-{d.day:02d}" for d in days]
        slash = [f"{d.year}/{d.month}/{d.day}" for d in days]
        self.compact = _strings(f"{d.year:04d}{d.month:02d}{d.day:02d}" for d in days)
        self.day = _strings(iso + slash)
        self.n_days = n_days
        tod_iso = [f" {m // 60:02d}:{m % 60:02d}:00" for m in range(_MINUTES_PER_DAY)]
        tod_slash = [f" {m // 60}:{m % 60:02d}" for m in range(_MINUTES_PER_DAY)]
        self.tod = _strings(tod_iso + tod_slash)

    def format(self, minutes: np.ndarray, slash: np.ndarray) -> pa.Array:
        day, tod = np.divmod(minutes, _MINUTES_PER_DAY)
        s = slash.astype(np.int64)
        return _join(_take(self.day, day + s * self.n_days), _take(self.tod, tod + s * _MINUTES_PER_DAY))


def _idcards(rng: np.random.Generator, size: int) -> list[str]:
    """Synthetic 18-digit resident ID numbers with a valid GB 11643 check digit."""
    area = rng.choice(_ID_AREAS, size)
    birth = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 365 * 55, size), unit="D")
    seq = rng.integers(0, 1000, size)
    out = []
    for a, b, s in zip(area, birth, seq):
        body = f"{a:06d}{b.year:04d}{b.month:02d}{b.day:02d}{s:03d}"
        check = _ID_CHECK[int(np.dot(np.array(list(body), dtype=int), _ID_WEIGHTS)) % 11]
        out.append(body + check)
    return out


def _to_str_series(arr: pa.Array) -> pd.Series:
    return pd.Series(pd.array(arr, dtype="str"))


def _week_mask(minutes: np.ndarray, start: pd.Timestamp, monday: str) -> np.ndarray:
    """Rows whose time (minutes after ``start``) falls in the 7 days from ``monday`` 00:00."""
    m0 = (pd.Timestamp(monday) - start) / pd.Timedelta(minutes=1)
    return (minutes >= m0) & (minutes < m0 + 7 * _MINUTES_PER_DAY)


def _expit(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -700, 700)))


def _cat_from_u(u: np.ndarray, table: np.ndarray, row: np.ndarray) -> np.ndarray:
    """What :func:`_draw_cat` returns for the uniforms ``u`` (same arithmetic)."""
    table = np.asarray(table, dtype=float)
    table = table / table.sum(axis=-1, keepdims=True)
    cum = np.cumsum(table, axis=-1)
    out = np.zeros(len(u), dtype=np.int64)
    for j in range(table.shape[-1] - 1):
        out += u >= cum[row, j]
    return out


def _cat_from_cum(u: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Category of each uniform given per-row probabilities ``probs`` (rows, k)."""
    cum = np.cumsum(probs, axis=1)
    return (u[:, None] >= cum[:, :-1]).sum(axis=1).astype(np.int64)
