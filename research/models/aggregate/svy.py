"""The plan's survey-weighted models from an engine's sums (issue 15): :func:`svy_models_on`.

The same fits as :func:`research.models.weighted.fit_weighted_model` (R ``svyglm(...,
family = quasibinomial())`` and ``svyolr`` on ``svydesign(ids = ~station, weights = ~w)``, raked
or post-stratified: Taylor linearization with the calibration projected out, design df of
:func:`research.stats.svy_models.design_df`), and the same tables as the weighting stage's
(:func:`research.representativeness.run._survey_weighted_models`): ``svy_estimates``, ``svy_fit``,
``svy_marginal_effects``, ``svy_predictions``.

How, from sums (:mod:`research.models.aggregate.svy_design` for the design and the variance):

1. the design: every respondent in its cell (cluster x level of every margin), with its weight
   from the table of weight cells;
2. per model, its groups (the model's variables, the cluster and the weighting variables) on the
   engine; a row's weight is a constant of its group and band (:func:`svy_design.weight_expression`);
3. the pseudo-maximum-likelihood fit is the aggregate fit (:func:`research.models.aggregate.families.fit_logit`
   with the weights normalised to mean 1 as svyglm does, :func:`research.models.aggregate.ordinal.fit_ordinal`
   with the raw weights as svyolr), every sum weighted;
4. one more pass gives each group and band's score totals; times the cell design and the weight they
   are the cells' totals of the influence values' row terms, and times the bread (the inverse
   weighted information) the influence totals whose calibrated cluster totals give the covariance.

Predictions and marginal effects are :mod:`research.models.aggregate.predict`'s, weighted.

Inverse-propensity weights (``ipw``) are no function of cells: each row's weight is an expression
of its ticket's work-order covariates and hours (:class:`research.representativeness.at_scale_ipw.IpwWeight`),
the design's cells are the clusters (fixed weights, no calibration), and the score sums of step 4
are weighted row by row (the weight is the one "band indicator").
tests/models/test_aggregate_svy.py checks every table against the row path to 1e-9 relative.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from research.config.formula import NUMERIC_VARIABLES
from research.config.instrument import Instrument
from research.config.plan import ModelSpec, Plan
from research.engines.base import Engine, Source, column_name
from research.engines.expr import col, fn
from research.errors import InputError, NotEstimable
from research.models.aggregate import svy_design as SD
from research.models.aggregate.algebra import basis_coefficients, basis_column, eta
from research.models.aggregate.cells import cell_design, numeric_basis
from research.models.aggregate.families import Cells, fit_logit
from research.models.aggregate.fit import _formula_variables, _outcome
from research.models.aggregate.ordinal import fit_ordinal, ordinal_params, score_pieces
from research.models.design import Design
from research.models.fitted import FittedModel, df_note

#: the tables, as the weighting stage names them
TABLES = ("svy_estimates", "svy_fit", "svy_marginal_effects", "svy_predictions")


def svy_models_on(engine: Engine, source: Source, *, plan: Plan, instrument: Instrument,
                  weight_cells: pd.DataFrame | None, progress=None, ipw=None) -> dict[str, pd.DataFrame]:
    """The plan's ``weighting.models`` refitted with the non-response weights, from sums.

    Parameters
    ----------
    engine, source : where the respondents (canonical responses, every one a row of the design) are.
    plan : its ``weighting`` section: method (rake, poststratify or none), margins / poststrata,
        bands_hours, cluster (the PSUs) and models.
    weight_cells : the weights as a function of cells: the weighting variables as columns
        (``region``, ``cause_l2``, ``handling_band`` for the plan's rake; ``handling_band`` labelled as
        :func:`research.stats.bands.handling_band` labels it) and ``weight`` (work orders per
        respondent); one row and no variable for equal weights.
    progress : called with a line per model and its time.
    ipw : for ``weighting.method: ipw``, the weight of every row
        (:class:`research.representativeness.at_scale_ipw.IpwWeight`: ``k / p`` of the ``w_``
        covariates of ``source``, :func:`research.representativeness.at_scale_ipw.model_source`);
        ``weight_cells`` is then None and the design has no calibration (fixed weights).

    Returns
    -------
    ``svy_estimates``, ``svy_fit``, ``svy_marginal_effects``, ``svy_predictions``: the frames of
    :func:`research.representativeness.run._survey_weighted_models` (same columns and rows).

    Raises
    ------
    InputError : a method whose weights are not functions of cells (ipw), a respondent without a
        cluster or weighting variable, a cell without a weight, a model that cannot be fitted.
    """
    from research.models.aggregate.predict import marginal_effects_from_sums, predictions_from_sums
    from research.representativeness.run import add_svy_parts

    say = progress or (lambda m: None)
    spec, conf = plan.weighting, plan.conf_level
    if ipw is not None:  # fixed weights of each row: the design's cells are the clusters
        from dataclasses import replace

        scheme = SD.weight_scheme(replace(spec, method="none"), pd.DataFrame({"weight": [1.0]}))
    else:
        scheme = SD.weight_scheme(spec, weight_cells)
    design = SD.design_cells(engine, source, scheme, spec.cluster)
    parts = {k: [] for k in TABLES}
    for name in spec.models:
        t0 = time.perf_counter()
        m = plan.model(name)
        fm = fit_weighted_on(engine, source, m, plan=plan, instrument=instrument, scheme=scheme, design=design,
                             ipw=ipw)
        add_svy_parts(parts, fm, plan, marginal_effects_from_sums(
            fm, parent=instrument.parent, multiplier=plan.time_multiplier,
            threshold=instrument.satisfied_threshold, conf_level=conf), predictions_from_sums(
            fm, parent=instrument.parent, grid_hours=plan.grid_hours, threshold=instrument.satisfied_threshold,
            conf_level=conf, reference_levels=plan.reference_levels, instrument=instrument))
        say(f"survey-weighted model {name} from sums ({engine.name}) in {time.perf_counter() - t0:.1f} s")
    return {k: pd.concat(v, ignore_index=True) if v else pd.DataFrame() for k, v in parts.items()}


def fit_weighted_on(engine: Engine, source: Source, spec: ModelSpec, *, plan: Plan, instrument: Instrument,
                    scheme: SD.WeightScheme, design: SD.DesignCells, ipw=None) -> FittedModel:
    """One survey-weighted model from sums (the module docstring): the :class:`FittedModel` of
    :func:`research.models.weighted.fit_weighted_model`, with ``extra`` holding the aggregate
    path's cells (for :mod:`research.models.aggregate.predict`). InputError as the row path."""
    from research.models.families import family_of
    from research.models.weighted import _method

    if family_of(spec.family, spec.name).weighted is None:
        raise InputError(f"model {spec.name}: no survey-weighted fit for the {spec.family} family")
    cells, cd, rows, prepared, ind = _weighted_cells(engine, source, spec, plan, instrument, scheme, design, ipw)
    try:
        if spec.family == "logit":
            out, scores = _logit(cells, rows, ind)
            cut_names, estimator = [], "survey-weighted logit, pseudo-ML (R survey::svyglm quasibinomial)"
            df = design.n_clusters - out["n_beta"]
        else:
            out, scores, cut_names = _ordinal(cells, rows, ind, spec, instrument)
            estimator = "survey-weighted proportional-odds logit, pseudo-ML (R survey::svyolr)"
            df = design.n_clusters - 1 - out["n_beta"]
    except NotEstimable as exc:
        raise InputError(f"model {spec.name} (survey-weighted, from sums): {exc}") from None
    bread = out["vcov"]
    bread = (bread + bread.T) / 2
    infl = np.zeros((len(design.cells), len(out["params"])))
    np.add.at(infl, design.index_of(rows), scores)
    vcov = design.variance(infl @ bread)
    method = _method(estimator, design.cluster_name, design if design.levels else None)
    return _result(spec, cd, cells, out, vcov, cut_names, df, method, design.n_clusters,
                   sum_weights=float(rows["n"].to_numpy() @ rows["w"].to_numpy()), n_total=prepared.total_rows)


def _weighted_cells(engine, source, spec, plan, instrument, scheme, design, ipw=None):
    """The model's groups on the engine with their weights: ``(Cells, CellDesign, band rows, Prepared,
    indicators)``. ``band rows``: one row per group and band holding rows (:func:`svy_design.band_rows`)
    with its weight ``w`` (raw; with ``ipw`` the group's mean weight) and ``wn`` (the weight the fit
    uses; with ``ipw`` 1, the row's weight being the one indicator the score sums multiply by)."""
    from research.models.families import family_of

    variables = tuple(spec.variables())
    uses_hours = any(v in NUMERIC_VARIABLES for v in variables)
    keys = tuple(dict.fromkeys([*(v for v in variables if v not in NUMERIC_VARIABLES), design.cluster_name,
                                *scheme.keys, *(ipw.keys if ipw is not None else ())]))
    basis = numeric_basis(spec.rhs, variables=_formula_variables())
    values = {f"g{m + 1}": e for m, e in enumerate(basis)}
    if uses_hours or scheme.bands:
        values["h"] = col(column_name("handling_hours"))
    numeric = ("handling_hours",) if uses_hours or scheme.bands else ()
    if ipw is not None:
        values.update(ipw.values)
        numeric = (*numeric, *ipw.numeric)
    prepared = engine.prepare(source, keys, values, numeric)
    groups = prepared.groups
    if prepared.n_rows < 10:
        raise InputError(f"model {spec.name}: only {prepared.n_rows} complete rows")
    cd = cell_design(groups, rhs=spec.rhs, intercept=family_of(spec.family).intercept, variables=variables,
                     formula_variables=_formula_variables(), reference_levels=plan.reference_levels,
                     instrument=instrument)
    if ipw is not None:
        return _ipw_cells(engine, prepared, cd, spec, instrument, ipw)
    rows = SD.band_rows(engine, prepared, scheme)
    rows["w"] = SD.weights_of(rows, scheme)
    n_b = max(len(scheme.indicators), 1)
    # the logit's weights are normalised to mean 1 over the model's rows (svyglm); svyolr's are raw
    scale = float(rows["n"] @ rows["w"]) / float(rows["n"].sum()) if spec.family == "logit" else 1.0
    rows["wn"] = rows["w"] / scale
    wgb = np.zeros((len(groups), n_b))
    wgb[rows["gid"].to_numpy(), rows["band"].to_numpy()] = rows["wn"].to_numpy()
    w_g = np.bincount(rows["gid"], weights=rows["n"] * rows["wn"], minlength=len(groups))
    cells = Cells(engine=engine, prepared=prepared, C=cd.C, y=_outcome(groups, spec, instrument),
                  n_g=groups["n"].to_numpy(dtype=float), cluster=None, n_clusters=0,
                  weight=SD.weight_expression(scheme), weight_columns={f"wb{b}": wgb[:, b] for b in range(n_b)},
                  w_g=w_g)
    return cells, cd, rows, prepared, scheme.indicators


def _ipw_cells(engine, prepared, cd, spec, instrument, ipw):
    """:func:`_weighted_cells` with ipw weights: each row's weight is an expression (its work
    order's covariates' coefficients per group, the hours' basis per row), one pass for the
    groups' weight totals; svyglm's normalisation to mean 1 folded into the expression."""
    groups = prepared.groups
    columns = ipw.columns(groups)
    n = groups["n"].to_numpy(dtype=float)
    total = engine.sums(prepared, {"w": ipw.expression()}, pd.DataFrame({"gid": groups["gid"], **columns}))
    total = total["w"].to_numpy()
    scale = float(total.sum()) / float(n.sum()) if spec.family == "logit" else 1.0
    rows = groups.assign(band=0, w=total / n, wn=1.0)
    weight = ipw.expression(scale)
    cells = Cells(engine=engine, prepared=prepared, C=cd.C, y=_outcome(groups, spec, instrument), n_g=n,
                  cluster=None, n_clusters=0, weight=weight, weight_columns=columns, w_g=total / scale)
    return cells, cd, rows, prepared, [weight]


def _band_sums(cells: Cells, rows: pd.DataFrame, pieces: dict, params: pd.DataFrame,
               ind: list) -> dict[str, np.ndarray]:
    """Per row of ``rows`` (a group and band), the sum of each piece over the band's rows of the group
    (unweighted; ``ind`` the bands' indicators; with ipw the rows' weights): one engine pass."""
    # a band's indicator, or the row's weight (ipw); a lone constant indicator is left out
    measures = {f"{k}_{b}": e * i if len(ind) > 1 or i.op != "num" else e for k, e in pieces.items()
                for b, i in enumerate(ind)}
    s = cells.sums(measures, params)
    g, b = rows["gid"].to_numpy(), rows["band"].to_numpy()
    return {k: np.column_stack([s[f"{k}_{j}"].to_numpy() for j in range(len(ind))])[g, b] for k in pieces}


def _logit(cells: Cells, rows: pd.DataFrame, ind: list):
    """The weighted logit and, per group and band, its rows' score totals (n_rows, k) times the weight."""
    out = fit_logit(cells, "model")
    M = cells.M
    p = fn("expit", eta(M))
    pieces = {f"r{m}": (col("y") - p) * basis_column(m) if m else col("y") - p for m in range(M)}
    params = basis_coefficients(cells.C, out["params"], cells.gid, y=cells.y)
    s = _band_sums(cells, rows, pieces, params, ind)
    g = rows["gid"].to_numpy()
    r = np.column_stack([s[f"r{m}"] for m in range(M)]) * rows["wn"].to_numpy()[:, None]
    return out, np.einsum("rjm,rm->rj", cells.C[g], r)


def _ordinal(cells: Cells, rows: pd.DataFrame, ind: list, spec: ModelSpec, instrument: Instrument):
    """The weighted proportional-odds fit and its score totals per group and band (n_rows, p + K - 1)."""
    scale = next(i.scale for i in instrument.items if i.name == spec.outcome)
    levels = instrument.scales[scale].codes
    K = len(levels)
    counts = np.bincount(cells.y.astype(int), weights=cells.n_g, minlength=K)
    if (counts == 0).any():
        absent = [int(levels[j]) for j in np.flatnonzero(counts == 0)]
        raise InputError(f"model {spec.name}: answer level(s) {absent} of {spec.outcome} have no respondents; "
                         "the proportional-odds fit needs every level")
    out = fit_ordinal(cells, K, "model")
    M, p = cells.M, cells.C.shape[1]
    ga, gb, d, _ = score_pieces(M)
    pieces = {"ga": ga, "gb": gb, **{f"d{m}": d * basis_column(m) if m else d for m in range(M)}}
    params = ordinal_params(cells, out["params"][:p], out["params"][p:])
    s = _band_sums(cells, rows, pieces, params, ind)
    g = rows["gid"].to_numpy()
    y = cells.y.astype(int)[g]
    wn = rows["wn"].to_numpy()
    scores = np.zeros((len(rows), p + K - 1))
    scores[:, :p] = -np.einsum("rjm,rm->rj", cells.C[g], np.column_stack([s[f"d{m}"] for m in range(M)]))
    top, bot = np.flatnonzero(y < K - 1), np.flatnonzero(y > 0)
    scores[top, p + y[top]] += s["ga"][top]
    scores[bot, p + y[bot] - 1] -= s["gb"][bot]
    return out, scores * wn[:, None], [f"{levels[j]}|{levels[j + 1]}" for j in range(K - 1)]


def _result(spec, cd, cells, out, vcov, cut_names, residual_df, method, n_clusters, *, sum_weights, n_total):
    """The :class:`FittedModel` of :func:`research.models.weighted._weighted_result`, from sums."""
    from research.stats.svy_models import design_df

    notes = list(cd.notes)
    df, reference, why = design_df(residual_df, n_clusters, len(out["params"]))
    if why:
        notes.append(why)
    n = cells.n
    stats = {"nobs": n, "n_clusters": n_clusters, "sum_weights": sum_weights, "df": df,
             "n_dropped": int(n_total - n), "notes": "; ".join(notes)}
    n_beta = out["n_beta"]
    design = Design(X=np.empty((0, len(cd.names))), names=cd.names, spec=None, context={}, columns_of_term={},
                    variables_of_term={})
    fm = FittedModel(spec=spec, design=design, frame=cd.frame, rows=np.empty(0, dtype=int), y=out["y"],
                     params=out["params"], vcov=vcov, names=cd.names + cut_names,
                     kinds=["coefficient"] * n_beta + ["cutpoint"] * len(cut_names), n_beta=n_beta,
                     df_resid=float(df), stats=stats, se_method=f"{method}; {reference}",
                     extra={"cells": cells, "cell_design": cd, "groups": cells.prepared.groups})
    if df_note(fm):
        fm.stats["notes"] = "; ".join(filter(None, [fm.stats["notes"], df_note(fm)]))
    return fm
