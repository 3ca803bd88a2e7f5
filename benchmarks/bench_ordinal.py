"""Benchmark: proportional-odds fit on 1,000,000 rows, research.stats.ordinal vs R ordinal::clm.

Data: simulated with numpy, the structure of ``tests/fixtures/r/models_data.csv``
(17 sub-causes nested in 4 main causes, 4 channels, a repeat flag,
lh = log2(1 + handling hours) with a lognormal handling time by main cause,
30 stations) and the ``speed_by_cause`` design: 16 sub-cause dummies, one lh
slope per main cause, 3 channel dummies and repeat = 24 columns, K = 5.

Python: ``fit_ordinal`` (wall time and peak memory: ``tracemalloc`` peak of
the allocations made during the fit, and the process's ``ru_maxrss``), plus
the CR1 cluster-robust covariance by station. R (if ``Rscript`` is on PATH):
the same data via a temporary CSV, ``clm(sat ~ ., link = "logit")`` on the
24-column numeric design; the time reported is ``system.time`` of the
``clm`` call alone (CSV reading excluded). Estimates of both are compared.

Usage::

    python benchmarks/bench_ordinal.py [--n 1000000] [--seed 1] [--no-r] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from research.stats.ordinal import fit_ordinal, ordinal_scores
from research.stats.sandwich import cluster_robust_vcov

# sub-cause -> (main cause, share, true effect); expansion_delay is the reference level
SUBCAUSES = {
    "expansion_delay": ("service", 0.100, 0.0),
    "billing_dispute": ("service", 0.080, -0.3),
    "meter_quality": ("service", 0.050, 0.05),
    "meter_replacement_notice": ("service", 0.030, 0.05),
    "metering_billing_error": ("service", 0.057, -0.15),
    "no_follow_up": ("service", 0.033, -0.85),
    "staff_attitude": ("service", 0.060, -0.45),
    "arrears_disconnection": ("outage", 0.037, -0.6),
    "fault_outage": ("outage", 0.127, 0.9),
    "maintenance_outage_frequency": ("outage", 0.030, 0.0),
    "planned_outage_deviation": ("outage", 0.050, 0.4),
    "slow_repair": ("outage", 0.067, 0.1),
    "construction_site": ("capability", 0.040, 0.7),
    "inspection_hazard": ("capability", 0.053, 0.9),
    "property_damage": ("capability", 0.047, -0.25),
    "low_voltage": ("voltage", 0.087, 0.75),
    "voltage_fluctuation": ("voltage", 0.053, 0.2),
}
MAIN = {"service": (20.0, -0.25), "outage": (6.0, -0.45), "capability": (60.0, -0.15),
        "voltage": (36.0, -0.35)}          # median handling hours, lh slope
CHANNELS = {"hotline": (0.458, 0.0), "app": (0.245, 0.28), "wechat": (0.202, 0.27),
            "counter": (0.095, -0.38)}
CUTS = np.array([-3.96, -2.75, -1.43, -0.19])


def simulate(n: int, seed: int):
    """Return X (n, 24), y (codes 0..4), station (n,), column names, true [beta, theta]."""
    rng = np.random.default_rng(seed)
    subs = list(SUBCAUSES)
    share = np.array([SUBCAUSES[s][1] for s in subs])
    sub = rng.choice(len(subs), size=n, p=share / share.sum())
    mains = list(MAIN)
    main_of_sub = np.array([mains.index(SUBCAUSES[s][0]) for s in subs])
    main = main_of_sub[sub]
    med = np.array([MAIN[m][0] for m in mains])[main]
    hours = np.clip(med * np.exp(rng.normal(0.0, 1.0, n)), 0.3, 960.0)
    lh = np.log2(1.0 + hours)
    ch_names = list(CHANNELS)
    ch_p = np.array([CHANNELS[c][0] for c in ch_names])
    ch = rng.choice(4, size=n, p=ch_p / ch_p.sum())
    rep = (rng.random(n) < 0.2).astype(float)
    station = rng.integers(0, 30, n)

    names, cols, truth = [], [], []
    for k, s in enumerate(subs[1:], start=1):
        names.append(f"cause_l2{s}")
        cols.append((sub == k).astype(float))
        truth.append(SUBCAUSES[s][2])
    for k, m in enumerate(mains):
        names.append(f"cause_l1{m}:lh")
        cols.append(np.where(main == k, lh, 0.0))
        truth.append(MAIN[m][1])
    for k, c in enumerate(ch_names[1:], start=1):
        names.append(f"channel{c}")
        cols.append((ch == k).astype(float))
        truth.append(CHANNELS[c][1])
    names.append("repeatTRUE")
    cols.append(rep)
    truth.append(-0.55)
    X = np.column_stack(cols)
    beta = np.array(truth)
    latent = X @ beta + rng.logistic(size=n)
    y = np.searchsorted(CUTS, latent)          # P(Y <= j) = expit(cut_j - x'beta)
    return X, y, station, names, np.r_[beta, CUTS]


R_SCRIPT = r"""
suppressPackageStartupMessages(library(ordinal))
args <- commandArgs(trailingOnly = TRUE)
d <- utils::read.csv(args[1], check.names = FALSE)
d$y <- factor(d$y, levels = 0:4, ordered = TRUE)
t <- system.time(fit <- clm(y ~ ., data = d, link = "logit"))
cat(sprintf("SECONDS %.6f\n", t[["elapsed"]]))
cat(sprintf("LOGLIK %.17g\n", as.numeric(logLik(fit))))
cat(sprintf("CONV %d\n", fit$convergence$code))
cat("BETA", sprintf("%.17g", fit$beta), "\n")
cat("THETA", sprintf("%.17g", fit$alpha), "\n")
"""


def run_r(X: np.ndarray, y: np.ndarray, names: list[str]) -> dict | None:
    if shutil.which("Rscript") is None:
        print("Rscript not found: skipping the R ordinal::clm comparison")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "ordinal_bench.csv"
        script = Path(tmp) / "bench.R"
        script.write_text(R_SCRIPT)
        t = time.perf_counter()
        header = ",".join(["y"] + [f"x{j}" for j in range(X.shape[1])])
        np.savetxt(csv, np.column_stack([y, X]), delimiter=",", header=header, comments="",
                   fmt=["%d"] + ["%.17g"] * X.shape[1])
        write_s = time.perf_counter() - t
        t = time.perf_counter()
        proc = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True)
        total_s = time.perf_counter() - t
    if proc.returncode != 0:
        print("R failed:\n" + proc.stderr[-2000:])
        return None
    out = {}
    for line in proc.stdout.splitlines():
        key, _, rest = line.partition(" ")
        out[key] = rest.split()
    return {"seconds": float(out["SECONDS"][0]), "rscript_total_seconds": total_s,
            "csv_write_seconds": write_s, "loglik": float(out["LOGLIK"][0]),
            "convergence_code": int(out["CONV"][0]),
            "params": np.array([float(v) for v in out["BETA"] + out["THETA"]])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-r", action="store_true", help="skip the R comparison")
    ap.add_argument("--json", type=Path, help="write the results here as JSON")
    args = ap.parse_args()

    t = time.perf_counter()
    X, y, station, names, truth = simulate(args.n, args.seed)
    print(f"simulated {args.n:,} rows x {X.shape[1]} columns in {time.perf_counter() - t:.1f} s; "
          f"level shares {np.round(np.bincount(y, minlength=5) / args.n, 3).tolist()}")

    tracemalloc.start()
    t = time.perf_counter()
    fit = fit_ordinal(X, y, n_levels=5)
    fit_s = time.perf_counter() - t
    _, fit_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t = time.perf_counter()
    v_cl = cluster_robust_vcov(fit.vcov, ordinal_scores(fit, X, y), station)
    cl_s = time.perf_counter() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    params = np.r_[fit.beta, fit.theta]
    z = (params - truth) / np.sqrt(np.diag(fit.vcov))
    print(f"python fit_ordinal: {fit_s:.2f} s, {fit.iterations} Newton iterations, converged "
          f"{fit.converged}, max|grad| {fit.gradient_max:.2e}, loglik {fit.loglik:.6f}")
    print(f"  peak memory allocated during the fit (tracemalloc) {fit_peak / 2**20:.0f} MiB; "
          f"X itself {X.nbytes / 2**20:.0f} MiB; process peak RSS {rss_mb:.0f} MiB")
    print(f"  CR1 cluster-robust vcov (scores + sandwich): {cl_s:.2f} s; "
          f"max |z| of estimate vs truth {np.abs(z).max():.2f}; "
          f"SE ratio cluster/model median {np.median(np.sqrt(np.diag(v_cl) / np.diag(fit.vcov))):.3f}")
    result = {"n": args.n, "p": X.shape[1], "python_seconds": fit_s, "python_iterations": fit.iterations,
              "python_tracemalloc_peak_mib": fit_peak / 2**20, "python_peak_rss_mib": rss_mb,
              "python_loglik": fit.loglik, "cluster_vcov_seconds": cl_s,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "python": sys.version.split()[0]}}
    if not args.no_r:
        r = run_r(X, y, names)
        if r is not None:
            diff = np.abs(r["params"] - params).max()
            print(f"R ordinal::clm: {r['seconds']:.2f} s (clm call; Rscript total incl. CSV read "
                  f"{r['rscript_total_seconds']:.1f} s), convergence code {r['convergence_code']}, "
                  f"loglik {r['loglik']:.6f}")
            print(f"  max |estimate difference| Python vs R {diff:.2e}; "
                  f"loglik difference {fit.loglik - r['loglik']:.2e}")
            print(f"speed: Python {fit_s:.2f} s vs R {r['seconds']:.2f} s -> R/Python = "
                  f"{r['seconds'] / fit_s:.1f}x")
            result.update({"r_seconds": r["seconds"], "r_total_seconds": r["rscript_total_seconds"],
                           "r_loglik": r["loglik"], "max_abs_param_diff": float(diff),
                           "ratio_r_over_python": r["seconds"] / fit_s})
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
