"""Benchmark: random-intercept REML fit on 1,000,000 rows, Python vs R's lme4::lmer.

Data (made once, seed 20261126, cached in ``--cache``, default the system temp
folder): n rows, p fixed-effect columns (intercept, 15 dummies of one
16-level factor, the rest continuous or binary, one of them constant within
group), G groups of very unequal size (sizes proportional to 1.12^k).

Python: ``research.stats.mixed.fit_random_intercept`` runs in a fresh
process that loads the cached arrays and reports the wall time of the first
fit (cold) and of three repeated fits (best), the resident memory before the
fit and the peak during it (``VmHWM`` after resetting it via
``/proc/self/clear_refs``; Linux).

R: the same data as a CSV; ``Rscript`` reads it (not timed) and times
``lmer(y ~ . - g + (1 | g), REML = TRUE)`` with ``system.time``. Skipped with
a message when ``Rscript`` or lme4 is absent (``--no-r`` skips it too). The
script also prints the largest differences between the two fits.

Usage::

    python benchmarks/bench_mixed.py [--n 1000000] [--p 24] [--groups 40] [--cache DIR]
                                     [--json OUT] [--no-r]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time
import numpy as np
from research.stats.mixed import fit_random_intercept


def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024


z = np.load(sys.argv[1], allow_pickle=False)
X, y, g = z["X"], z["y"], z["g"]
try:  # reset the peak-RSS counter (Linux), so the peak below belongs to the fit
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    rss0 = status("VmRSS")
except OSError:
    rss0 = None
t = time.perf_counter()
fit = fit_random_intercept(X, y, g)
sec = time.perf_counter() - t
peak = status("VmHWM")
repeat = []
for _ in range(3):
    t = time.perf_counter()
    fit_random_intercept(X, y, g)
    repeat.append(time.perf_counter() - t)
print(json.dumps({"seconds": sec, "seconds_repeat_best_of_3": min(repeat),
                  "rss_mb_before_fit": rss0, "peak_rss_mb": peak,
                  "beta": fit.beta.tolist(), "se": fit.se.tolist(),
                  "sigma2_group": fit.sigma2_group, "sigma2_resid": fit.sigma2_resid,
                  "loglik": fit.loglik, "singular": fit.singular,
                  "converged": fit.converged, "blup": fit.blup.tolist()}))
"""

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- utils::read.csv(args[1], colClasses = c(g = "character"))
d$g <- factor(d$g)
tm <- system.time(fit <- lmer(y ~ . - g + (1 | g), data = d, REML = TRUE))
vc <- as.data.frame(VarCorr(fit))
cat(jsonlite::toJSON(list(
  seconds = unname(tm["elapsed"]), beta = unname(fixef(fit)),
  se = unname(sqrt(diag(as.matrix(vcov(fit))))),
  sigma2_group = vc$vcov[1], sigma2_resid = vc$vcov[2],
  loglik = as.numeric(logLik(fit)), blup = ranef(fit)$g[, 1],
  lme4 = as.character(packageVersion("lme4"))), digits = NA, auto_unbox = TRUE), "\n")
"""


def make_data(n: int, p: int, n_groups: int, cache: Path) -> dict[str, Path]:
    """Simulate once and cache as .npz (for Python) and .csv (for R)."""
    cache.mkdir(parents=True, exist_ok=True)
    stem = cache / f"mixed_{n}_{p}_{n_groups}"
    files = {"npz": stem.with_suffix(".npz"), "csv": stem.with_suffix(".csv")}
    if all(f.exists() for f in files.values()):
        return files
    rng = np.random.default_rng(20261126)
    w = 1.12 ** np.arange(n_groups)
    sizes = np.floor(w / w.sum() * n).astype(int)
    sizes[-1] += n - sizes.sum()
    codes = rng.permutation(np.repeat(np.arange(n_groups), sizes))
    labels = np.array([f"g{k:03d}" for k in range(n_groups)])
    n_dummy = min(15, p - 2)
    X = np.empty((n, p))
    X[:, 0] = 1.0
    cat = rng.integers(0, n_dummy + 1, size=n)
    for j in range(n_dummy):
        X[:, 1 + j] = cat == j + 1
    rest = p - 1 - n_dummy
    for j in range(rest):
        col = 1 + n_dummy + j
        if j == 0:  # a group-level covariate (constant within group)
            X[:, col] = rng.normal(size=n_groups)[codes]
        elif j % 3 == 2:
            X[:, col] = rng.random(n) < 0.3
        else:
            X[:, col] = rng.normal(size=n)
    beta = rng.normal(scale=0.5, size=p)
    u = rng.normal(scale=0.4, size=n_groups)
    y = X @ beta + u[codes] + rng.normal(size=n)
    g = labels[codes]
    np.savez(files["npz"], X=X, y=y, g=g)
    import pandas as pd

    df = pd.DataFrame(X[:, 1:], columns=[f"x{j:02d}" for j in range(1, p)])
    df.insert(0, "g", g)
    df["y"] = y
    df.to_csv(files["csv"], index=False, float_format="%.17g")
    return files


def run_r(csv: Path) -> dict | None:
    if shutil.which("Rscript") is None:
        print("R: skipped (Rscript not found)")
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(R_SCRIPT)
        script = fh.name
    try:
        proc = subprocess.run(["Rscript", script, str(csv)], capture_output=True, text=True)
    finally:
        os.unlink(script)
    if proc.returncode != 0:
        print(f"R: skipped (Rscript failed: {proc.stderr.strip()[-300:]})")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--p", type=int, default=24, help="fixed-effect columns incl. intercept")
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "research-bench")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument("--no-r", action="store_true", help="do not run R's lmer")
    args = parser.parse_args()
    if args.p < 4:
        parser.error("--p must be at least 4")
    files = make_data(args.n, args.p, args.groups, args.cache)

    proc = subprocess.run([sys.executable, "-c", CHILD, str(files["npz"])],
                          capture_output=True, text=True, check=True)
    py = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"data: n = {args.n:,}, p = {args.p}, G = {args.groups}")
    extra = ("" if py["rss_mb_before_fit"] is None else
             f"; {py['rss_mb_before_fit']:,.0f} MB resident before the fit (data loaded), so "
             f"the fit added {py['peak_rss_mb'] - py['rss_mb_before_fit']:,.0f} MB at its peak")
    print(f"Python fit_random_intercept: {py['seconds']:.2f} s first call in a fresh process, "
          f"{py['seconds_repeat_best_of_3']:.2f} s repeated (best of 3); peak RSS "
          f"{py['peak_rss_mb']:,.0f} MB{extra}")
    print(f"  sigma2_group = {py['sigma2_group']:.6g}, sigma2_resid = {py['sigma2_resid']:.6g}, "
          f"converged = {py['converged']}, singular = {py['singular']}")
    results = {"n": args.n, "p": args.p, "groups": args.groups,
               "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "numpy": np.__version__, "platform": platform.platform()},
               "python": {k: py[k] for k in ("seconds", "seconds_repeat_best_of_3",
                                              "peak_rss_mb", "rss_mb_before_fit")}}
    r = None if args.no_r else run_r(files["csv"])
    if args.no_r:
        print("R: skipped (--no-r)")
    if r is not None:
        diffs = {
            "beta_abs": float(np.max(np.abs(np.subtract(py["beta"], r["beta"])))),
            "se_rel": float(np.max(np.abs(np.divide(py["se"], r["se"]) - 1))),
            "sigma2_group_rel": abs(py["sigma2_group"] / r["sigma2_group"] - 1),
            "sigma2_resid_rel": abs(py["sigma2_resid"] / r["sigma2_resid"] - 1),
            "loglik_abs": abs(py["loglik"] - r["loglik"]),
            "blup_abs": float(np.max(np.abs(np.subtract(py["blup"], r["blup"])))),
        }
        print(f"R lme4 {r['lme4']} lmer (REML): {r['seconds']:.2f} s (lmer call only, "
              f"CSV reading not timed)")
        print("max differences Python - R: " + ", ".join(f"{k} {v:.2g}" for k, v in diffs.items()))
        print(f"loglik: Python {py['loglik']:.10f}, R {r['loglik']:.10f}")
        results["r"] = {"seconds": r["seconds"], "lme4": r["lme4"], "differences": diffs}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
