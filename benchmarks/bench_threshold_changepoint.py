"""Coverage study: the change-point test and the breakpoint interval of the tolerance thresholds.

For every cause group (sizes and handling times of the committed sample, including the small
capability and voltage groups), ``reps`` simulated groups with a smooth (log-linear) truth and
``reps`` with a planted change point (flat until the group's median handling time, then -0.8 per
doubling; truth "step") or a planted jump (truth "jump"), with a station random intercept (sd
0.3): the share of false detections under the smooth truth (its size; Davies' test against a slope
change and a step, Bonferroni, as the pipeline decides), its power under the change point, and,
among the draws where one was found, the coverage of
the breakpoint's 95% profile-likelihood interval (a NaN end, unbounded by the data, counts as
open), with the chi-square(1) critical value and with the parametric-bootstrap calibrated one
the pipeline uses (``--calibration-reps``), each with its Monte-Carlo standard error.
The DGP is ``tests/models/test_thresholds_changepoint.py::simulate_group``; the suite runs a small
version of this study.

Usage::

    python benchmarks/bench_threshold_changepoint.py [--reps 200] [--calibration-reps 199]
        [--groups capability voltage] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_thresholds_changepoint import GROUPS, study  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=10_000)
    ap.add_argument("--calibration-reps", type=int, default=199)
    ap.add_argument("--groups", nargs="+", default=list(GROUPS))
    ap.add_argument("--truths", nargs="+", default=["smooth", "step"])
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    t0 = time.perf_counter()
    d = study(a.reps, a.seed, a.calibration_reps, tuple(a.groups), tuple(a.truths))
    out = []
    for (group, truth), g in d.groupby(["group", "truth"], sort=False):
        rate = float((g["p_value"] < 0.05).mean())
        row = {"group": group, "truth": truth, "reps": len(g), "detected": rate,
               "detected_mc_se": float(np.sqrt(rate * (1 - rate) / len(g)))}
        if truth != "smooth":  # coverage among the draws where a change point was found
            f = g[g["p_value"] < 0.05]
            c = float(f["covered"].mean()) if len(f) else float("nan")
            row |= {"found": len(f), "coverage": c,
                    "coverage_mc_se": float(np.sqrt(c * (1 - c) / len(f))) if len(f) else float("nan"),
                    "right_kind": float((f["kind"] == ("step" if truth == "jump" else "hinge")).mean()),
                    "calibration_reps": a.calibration_reps, "mean_cut_slope": float(f["cut_slope"].mean()),
                    "mean_cut_step": float(f["cut_step"].mean())}
        out.append(row)
        print(json.dumps(row))
    print(f"{time.perf_counter() - t0:.0f} s")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
