"""What the figure data builders and drawers share: the instrument and the order of its codes.

Frames in, frames or lists out; nothing is drawn here (:mod:`research.artifacts.figure_axes`
holds the drawing helpers).
"""

from __future__ import annotations

import pandas as pd

from research.config.instrument import Instrument, load_instrument


def instrument_of(bundle: dict | None) -> Instrument:
    ins = None if bundle is None else bundle.get("instrument")
    return ins if ins is not None else load_instrument()


def l1_order(ins: Instrument) -> list[str]:
    return list(ins.label_sets["cause_l1"].codes)


def l2_order(ins: Instrument) -> list[str]:
    return [sub for l1 in l1_order(ins) for sub in ins.subcauses_of(l1)]


def rank_in(values: pd.Series, order: list[str]) -> pd.Series:
    """Position of each value in ``order``; unknown values after all known ones."""
    pos = {v: i for i, v in enumerate(order)}
    return values.map(lambda v: pos.get(v, len(order))).astype("int64")


def sort_by_codes(frame: pd.DataFrame, ins: Instrument, *extra: str) -> pd.DataFrame:
    """Sort by cause group, then sub-cause (taxonomy order; unknown codes last, by code), then ``extra``."""
    keys = frame.assign(
        _l1=rank_in(frame["cause_l1"], l1_order(ins)), _l1c=frame["cause_l1"].astype(str))
    cols = ["_l1", "_l1c"]
    if "cause_l2" in frame:
        keys = keys.assign(_l2=rank_in(frame["cause_l2"], l2_order(ins)), _l2c=frame["cause_l2"].astype(str))
        cols += ["_l2", "_l2c"]
    out = keys.sort_values(cols + list(extra), kind="mergesort")
    return out.drop(columns=[c for c in out.columns if c.startswith("_l")]).reset_index(drop=True)


def plain_text(frame: pd.DataFrame, text_cols: list[str]) -> pd.DataFrame:
    """Text columns as plain Python strings (object dtype) so every frame writes the same CSV."""
    out = frame.copy()
    for c in text_cols:
        out[c] = out[c].astype(object)
    return out


def unique(values) -> list:
    return list(dict.fromkeys(values))


def groups_in_order(values, ins: Instrument) -> list[str]:
    """The distinct cause groups among ``values``, in taxonomy order (unknown codes last, sorted)."""
    seen = set(values)
    known = [g for g in l1_order(ins) if g in seen]
    return known + sorted(str(g) for g in seen - set(known))
