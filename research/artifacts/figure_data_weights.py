"""The data plotted in figures F08 (response funnel) and F09 (weighted against unweighted).

They read the frames of research.representativeness.run (bundle keys funnel, response_rates,
weighted_estimates); without a work-order export they have no rows and the drawing
(:mod:`research.artifacts.drawers_weights`) says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from research.artifacts.figure_parts import instrument_of, plain_text, sort_by_codes


def figure_funnel_data(bundle: dict) -> pd.DataFrame:
    """The funnel from work orders to valid answers, and the response rate per sub-cause.

    Returns
    -------
    DataFrame with ``part`` = ``funnel`` rows (``stage`` work_orders, completed,
    accepted, valid; ``count``; ``share`` of the work orders) then ``part`` =
    ``subcause`` rows (taxonomy order: ``cause_l1``, ``cause_l2``, ``count`` =
    work orders, ``share`` = response rate, ``conf_low``, ``conf_high`` its Wilson
    interval). No rows without a work-order export.
    """
    cols = ["part", "stage", "cause_l1", "cause_l2", "count", "share", "conf_low", "conf_high"]
    fun = bundle.get("funnel")
    rr = bundle.get("response_rates")
    if fun is None or rr is None or len(rr) == 0:
        return pd.DataFrame(columns=cols)
    ins = instrument_of(bundle)
    top = pd.DataFrame({"part": "funnel", "stage": fun["stage"].astype(object), "cause_l1": None,
                        "cause_l2": None, "count": fun["count"].astype("float64"),
                        "share": fun["share_of_work_orders"].astype("float64"), "conf_low": np.nan,
                        "conf_high": np.nan})
    sub = rr[rr["variable"] == "cause_l2"]
    sub = pd.DataFrame({"part": "subcause", "stage": None, "cause_l1": sub["level"].map(ins.parent),
                        "cause_l2": sub["level"].astype(object), "count": sub["work_orders"].astype("float64"),
                        "share": sub["completed_rate"], "conf_low": sub["completed_conf_low"],
                        "conf_high": sub["completed_conf_high"]})
    sub = sort_by_codes(sub, ins)
    return plain_text(pd.concat([top, sub], ignore_index=True)[cols], ["part", "stage", "cause_l1", "cause_l2"])


def figure_weighted_data(bundle: dict) -> pd.DataFrame:
    """Weighted and unweighted satisfied rate per sub-cause (from T11's estimates).

    Returns
    -------
    DataFrame, taxonomy order: ``cause_l1, cause_l2, estimate, conf_low, conf_high``
    (weighted, design-based interval), ``estimate_unweighted, conf_low_unweighted,
    conf_high_unweighted``, ``difference`` (weighted - unweighted, proportion).
    No rows without a work-order export.
    """
    cols = ["cause_l1", "cause_l2", "estimate", "conf_low", "conf_high", "estimate_unweighted",
            "conf_low_unweighted", "conf_high_unweighted", "difference"]
    we = bundle.get("weighted_estimates")
    if we is None or len(we) == 0:
        return pd.DataFrame(columns=cols)
    ins = instrument_of(bundle)
    sub = we[(we["variable"] == "satisfied") & (we["domain"] == "cause_l2")].copy()
    sub["cause_l2"] = sub["level"].astype(object)
    sub["cause_l1"] = sub["cause_l2"].map(ins.parent)
    return plain_text(sort_by_codes(sub[cols], ins), ["cause_l1", "cause_l2"])
