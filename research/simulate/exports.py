"""Steps 10-12 and the planted faults: the survey and work-order exports in the shape a utility's
system writes them (Chinese headers and labels, two date styles, comments with planted personal
numbers), and the canonical frames ingest must reproduce.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from research.ingestion import schema
from research.simulate.draws import _STR, _draw_cat, _idcards, _join, _strings, _take, _to_str_series, _Clock
from research.simulate.params import (FAULT_REASONS, MISSING_LABELS, RESOLVED_CODES, SAT_ITEMS, STATUS_CODES,
                                      SURVEY_HEADERS, _BAD_DATETIME, _IDCARD_TEMPLATES, _MINUTES_PER_DAY,
                                      _NEGATIVE, _PHONE_TEMPLATES, _POSITIVE, SimParams)
from research.ingestion.sla import sla_deadlines


def _survey_answers(rng, n: int, p: SimParams, tk: dict) -> dict[str, Any]:
    """Item non-response, comments and date styles of the ``n`` survey rows (DGP steps 10-12)."""
    rows, m = tk["rows"], len(tk["l1"])
    answers = {}
    for item, rate in zip(SAT_ITEMS, (p.missing_overall,) + (p.missing_item,) * 3):
        miss = rng.random(n) < rate
        which = rng.integers(0, 2, n)
        answers[item] = np.where(miss, -1 - which, tk["sat"][item][rows])  # -1 拒答, -2 不清楚
    comment_kind = _draw_cat(rng, [p.comment_blank, p.comment_phone, p.comment_idcard,
                                   1 - p.comment_blank - p.comment_phone - p.comment_idcard], None, n)
    slash_s = rng.random(n) < p.date_style_slash
    slash_w = rng.random(m) < p.date_style_slash
    comment_raw, comment_masked = _comments(rng, comment_kind, tk["sat"]["sat_overall"][rows],
                                            tk["phones"][tk["cust"][rows]])
    return {"answers": answers, "slash_s": slash_s, "slash_w": slash_w, "comment_raw": comment_raw,
            "comment_masked": comment_masked}


def _comments(rng, kind: np.ndarray, sat_overall: np.ndarray, phones: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """Raw and masked comments. kind: 0 blank, 1 planted phone, 2 planted ID card, 3 phrase."""
    n = len(kind)
    pos = sat_overall >= 4
    phrase_idx = np.where(pos, rng.integers(0, len(_POSITIVE), n),
                          len(_POSITIVE) + rng.integers(0, len(_NEGATIVE), n))
    phrases = list(_POSITIVE + _NEGATIVE)
    raw = np.array([""] * n, dtype=object)
    masked = np.array([""] * n, dtype=object)
    is_phrase = kind == 3
    table = np.array(phrases, dtype=object)
    raw[is_phrase] = table[phrase_idx[is_phrase]]
    masked[is_phrase] = raw[is_phrase]
    ph = np.flatnonzero(kind == 1)
    tmpl = rng.integers(0, len(_PHONE_TEMPLATES), len(ph))
    for i, t, num in zip(ph, tmpl, phones[ph]):
        pre, post = _PHONE_TEMPLATES[t]
        raw[i] = f"{pre}{num}{post}"
        masked[i] = f"{pre}[PHONE]{post}"
    ids = np.flatnonzero(kind == 2)
    tmpl = rng.integers(0, len(_IDCARD_TEMPLATES), len(ids))
    for i, t, num in zip(ids, tmpl, _idcards(rng, len(ids))):
        pre, post = _IDCARD_TEMPLATES[t]
        raw[i] = f"{pre}{num}{post}"
        masked[i] = f"{pre}[IDCARD]{post}"
    return pa.array(raw, type=_STR), pa.array(masked, type=_STR)


#: faults planted as an extra copy of a row (the others edit one cell of an existing row)
_EXTRA_ROW_FAULTS = ("duplicate", "conflicting_duplicate", "no_workorder")


def _fault_counts(faults: float, n: int) -> dict[str, int]:
    """How many rows each reason of FAULT_REASONS gets: ``round(faults * n)`` shared out evenly,
    the first reasons taking one more when it does not divide."""
    k = int(round(faults * n))
    return {r: k // len(FAULT_REASONS) + (i < k % len(FAULT_REASONS)) for i, r in enumerate(FAULT_REASONS)}


class _RowPicker:
    """Survey rows for faults, each at most once, in the order of one random permutation."""

    def __init__(self, order: np.ndarray) -> None:
        self.order, self.used, self.cursor = order, np.zeros(len(order), dtype=bool), 0

    def pick(self, eligible=None) -> int:
        """The next unused row (index into the n survey rows) for which ``eligible(i)`` holds."""
        n = len(self.order)
        while self.cursor < n:
            i = int(self.order[self.cursor])
            self.cursor += 1
            if not self.used[i] and (eligible is None or eligible(i)):
                self.used[i] = True
                return i
        raise ValueError("too many faults for the number of rows")


@dataclass
class _Planted:
    """What planting collects: ``edits`` (header -> {extended row: new text}), ``rejected``
    ((extended row, reason) ingest must reject), ``extras`` ((base row copied, insert-before
    position) of the extra rows, numbered n, n + 1, ...) and ``bad_base`` (base rows rejected)."""

    edits: dict[str, dict[int, str]]
    bad_base: np.ndarray
    rejected: list[tuple[int, str]] = field(default_factory=list)
    extras: list[tuple[int, int]] = field(default_factory=list)


def _cell_fault(reason: str, rng, picker: _RowPicker, ctx: dict) -> tuple[int, str, str]:
    """Plant one single-cell fault: pick a row, then draw its bad value (in that order: the draws
    from ``rng`` are the simulator's contract). Returns (row, export header, new text). ``ctx``
    holds the survey rows' columns (see :func:`_plant_faults`)."""
    if reason == "missing_required":
        return picker.pick(), "供电所", ""
    if reason == "unknown_label":
        return picker.pick(), "受理渠道", "传真"
    if reason == "cause_mismatch":
        i = picker.pick()
        l2_parent = ctx["l2_parent"]
        others = [g for g in range(len(ctx["l2_by_l1"])) if g != l2_parent[ctx["l2"][i]]]
        g = others[rng.integers(len(others))]
        choices = [j for j in range(len(l2_parent)) if l2_parent[j] == g]
        return i, "诉求子类", ctx["l2_zh"][int(choices[rng.integers(len(choices))])].as_py()
    if reason == "time_order":
        i = picker.pick(lambda j: ctx["t0_ok"][j])  # created two days or more after the start
        back = ctx["created"][i] - int(rng.integers(60, 48 * 60 + 1))
        return i, "办结时间", ctx["clock"].format(np.array([back]), ctx["slash"][i:i + 1])[0].as_py()
    if reason == "invalid_answer":
        return picker.pick(), "总体满意度", ("6", "很好")[int(rng.integers(2))]
    if reason == "invalid_datetime":
        return picker.pick(), "受理时间", _BAD_DATETIME
    if reason == "invalid_count":
        return picker.pick(), "重复来电次数", ("-1", "两次")[int(rng.integers(2))]
    raise ValueError(f"unknown fault reason {reason!r}")


def _extra_row_fault(reason: str, rng, picker: _RowPicker, n: int, st: _Planted, ctx: dict) -> None:
    """Plant one fault made of an extra row (a copy of a picked row inserted after it, or anywhere
    for ``no_workorder``): an exact duplicate, a duplicate with another overall answer (both copies
    rejected), or a ticket id no work order has. Records it in ``st``."""
    i = picker.pick()
    low = 0 if reason == "no_workorder" else i + 1
    st.extras.append((i, int(rng.integers(low, n + 1))))
    e = n + len(st.extras) - 1
    if reason == "duplicate":
        st.rejected.append((e, reason))
    elif reason == "conflicting_duplicate":
        cur = int(ctx["sat_overall"][i])
        options = [v for v in range(1, 6) if v != cur]
        st.edits["总体满意度"][e] = ctx["sat_labels"][options[rng.integers(len(options))] + 1].as_py()
        st.rejected += [(i, reason), (e, reason)]
        st.bad_base[i] = True
    else:  # no_workorder
        j = sum(1 for _, r in st.rejected if r == reason)
        day = int(ctx["day"][ctx["rows"][i]])
        st.edits["工单编号"][e] = ctx["prefix"] + ctx["clock"].compact[day].as_py() + f"{90000 + j:05d}"
        st.rejected.append((e, reason))


def _export_order(cols: dict[str, pa.Array], st: _Planted, n: int) -> dict[str, Any]:
    """The export with the faults in place: every column extended by the extra rows, edited, and
    put in export order (each extra row just before its insert position). Returns the columns,
    the accepted base rows in export order with their 1-based source rows, the planted faults
    (ticket id, source row, reason; by source row) and the row counts."""
    extras = st.extras
    src = np.concatenate([np.arange(n), np.array([s for s, _ in extras], dtype=np.int64)])
    key = np.concatenate([np.arange(n, dtype=float), np.array([b - 0.5 for _, b in extras])])
    tie = np.arange(len(src))
    final = np.lexsort((tie, key))  # extended row at each export position
    position = np.empty(len(src), dtype=np.int64)
    position[final] = np.arange(len(src))
    out = {}
    for h, arr in cols.items():
        ext = arr.take(pa.array(src)) if extras else arr
        if st.edits[h]:
            mask = np.zeros(len(src), dtype=bool)
            idx = sorted(st.edits[h])
            mask[idx] = True
            ext = pc.replace_with_mask(ext, pa.array(mask), pa.array([st.edits[h][i] for i in idx],
                                                                     type=_STR))
        out[h] = ext.take(pa.array(final))
    accepted = np.flatnonzero(~st.bad_base)
    accepted = accepted[np.argsort(position[accepted], kind="stable")]
    tickets = out["工单编号"]
    planted = sorted(({"ticket_id": tickets[int(position[e])].as_py(), "source_row": int(position[e]) + 1,
                       "reason": r} for e, r in st.rejected), key=lambda d: d["source_row"])
    return {"columns": out, "accepted": accepted, "accepted_source_row": position[accepted] + 1,
            "planted": planted, "n_extra": len(extras), "n_rows": len(src)}


def _plant_faults(rng, n, faults, cols, created, l2, l2_parent, l2_by_l1, l2_zh, sat_overall, sat_labels,
                  clock, slash, ticket, rows, day, prefix="GD") -> dict[str, Any]:
    """Plant faults; return the export columns in final order and the accepted rows.

    ``round(faults * n)`` rows share the reasons of FAULT_REASONS (:func:`_fault_counts`); the
    rows come from one permutation of the n survey rows (drawn first), each reason in turn drawing
    its values from ``rng`` after its row. ``created``, ``l2``, ``sat_overall``, ``slash`` hold the
    survey rows' values; ``rows`` maps them to tickets and ``day`` tickets to days."""
    per_reason = _fault_counts(faults, n)
    picker = _RowPicker(rng.permutation(n))
    st = _Planted(edits={h: {} for h in cols}, bad_base=np.zeros(n, dtype=bool))
    ctx = {"created": created, "l2": l2, "l2_parent": l2_parent, "l2_by_l1": l2_by_l1, "l2_zh": l2_zh,
           "sat_overall": sat_overall, "sat_labels": sat_labels, "clock": clock, "slash": slash, "rows": rows,
           "day": day, "t0_ok": created >= 2 * _MINUTES_PER_DAY, "prefix": prefix}
    for reason in FAULT_REASONS:
        for _ in range(per_reason[reason]):
            if reason in _EXTRA_ROW_FAULTS:
                _extra_row_fault(reason, rng, picker, n, st, ctx)
                continue
            i, header, value = _cell_fault(reason, rng, picker, ctx)
            st.edits[header][i] = value
            st.rejected.append((i, reason))
            st.bad_base[i] = True
    out = _export_order(cols, st, n)
    return {"columns": out["columns"], "accepted": out["accepted"],
            "accepted_source_row": out["accepted_source_row"], "planted": out["planted"],
            "per_reason": per_reason, "n_extra": out["n_extra"], "n_rows": out["n_rows"]}


def _exports(rng, n, faults, p, ins, ct, pop, tk, rest, m) -> dict[str, Any]:
    """The two exports as the utility writes them (Chinese headers and labels), faults planted."""
    created, rows = pop["created"], tk["rows"]
    region, station, l1, l2, channel = pop["region"], pop["station"], tk["l1"], tk["l2"], tk["channel"]
    resolved_min, surveyed_min = tk["resolved_min"], tk["surveyed_min"]
    slash_s, slash_w = rest["slash_s"], rest["slash_w"]
    clock = _Clock(ct["start"], int(surveyed_min.max() // _MINUTES_PER_DAY) + 2)
    day = created // _MINUTES_PER_DAY
    first_of_day = np.searchsorted(day, day, side="left")
    seq = np.arange(m) - first_of_day + 1
    if seq.max() >= 90000:
        raise ValueError("more than 89999 tickets on one day: ticket ids would overflow")
    seq_table = _strings(f"{i:05d}" for i in range(int(seq.max()) + 1))
    prefix = ct["chunk"].ticket_prefix if "chunk" in ct else "GD"  # chunks: GD + the chunk's letters
    ticket = _join(pa.scalar(prefix, type=_STR), _take(clock.compact, day), _take(seq_table, seq))
    cust_str = pa.array(tk["cust_ids"][tk["cust"]]).cast(_STR)
    phone_str = pa.array(tk["phones"][tk["cust"]]).cast(_STR)
    zh = {k: ins.label_sets[k].zh() for k in ("channel", "cause_l1", "cause_l2", "resolved", "survey_status")}
    region_t, station_t = _strings(ct["regions"]), _strings(ct["station_names"])
    ch_zh = _strings(zh["channel"][c] for c in ct["ch_codes"])
    l1_zh = _strings(zh["cause_l1"][c] for c in ct["l1_codes"])
    l2_zh = _strings(zh["cause_l2"][c] for c in ct["l2_codes"])
    l2_parent = np.array([ct["l1_codes"].index(ins.parent[c]) for c in ct["l2_codes"]])
    place = {"地市": (region_t, region), "供电所": (station_t, station), "受理渠道": (ch_zh, channel),
             "诉求大类": (l1_zh, l1), "诉求子类": (l2_zh, l2)}
    wo_export = pd.DataFrame({
        "工单编号": _to_str_series(ticket), "客户编号": _to_str_series(cust_str),
        "联系电话": _to_str_series(phone_str),
        **{h: _to_str_series(_take(t, idx)) for h, (t, idx) in place.items()},
        "受理时间": _to_str_series(clock.format(created, slash_w)),
        "办结时间": _to_str_series(clock.format(resolved_min, slash_w)),
        "回访状态": _to_str_series(_take(_strings(zh["survey_status"][c] for c in STATUS_CODES),
                                       pop["status"])),
    })
    sat_zh = {int(lab.code): lab.zh for lab in ins.scales["sat5"].levels}
    # index: 0 不清楚 (answer -2), 1 拒答 (answer -1), 2..6 levels 1..5
    sat_labels = _strings([MISSING_LABELS[1], MISSING_LABELS[0]] + [sat_zh[k] for k in range(1, 6)])
    cols: dict[str, pa.Array] = {
        "工单编号": ticket.take(pa.array(rows)), "客户编号": cust_str.take(pa.array(rows)),
        "联系电话": phone_str.take(pa.array(rows)),
        **{h: _take(t, idx[rows]) for h, (t, idx) in place.items()},
        "受理时间": clock.format(created[rows], slash_s),
        "办结时间": clock.format(resolved_min[rows], slash_s),
        "回访时间": clock.format(surveyed_min[rows], slash_s),
        "重复来电次数": pa.array(tk["repeat_calls"][rows]).cast(_STR),
        "是否解决": _take(_strings(zh["resolved"][c] for c in RESOLVED_CODES), tk["resolved"][rows]),
    }
    answers = rest["answers"]
    for item, header in zip(SAT_ITEMS, SURVEY_HEADERS[13:17]):
        cols[header] = _take(sat_labels, np.where(answers[item] < 0, answers[item] + 2, answers[item] + 1))
    cols["客户意见"] = rest["comment_raw"]
    plan = _plant_faults(rng, n, faults, cols, created[rows], l2[rows], l2_parent, ct["l2_by_l1"], l2_zh,
                         answers["sat_overall"], sat_labels, clock, slash_s, ticket, rows, day, prefix)
    del cols
    columns = plan.pop("columns")
    survey_export = pd.DataFrame({h: _to_str_series(columns[h]) for h in SURVEY_HEADERS})
    return {"survey_export": survey_export, "wo_export": wo_export, "plan": plan, "ticket": ticket,
            "cust_str": cust_str, "region_t": region_t, "station_t": station_t}


def _canonical_frames(p, ins, ct, pop, tk, rest, ex, m) -> dict[str, Any]:
    """The canonical ``workorders`` and ``responses`` frames and the ``population`` frame."""
    start = ct["start"]

    def ts(minutes: np.ndarray) -> pd.Series:
        return pd.Series((start + pd.to_timedelta(minutes, unit="min")).as_unit("us"))

    created_dt, resolved_dt = ts(pop["created"]), ts(tk["resolved_min"])
    hours = pop["handling_min"] / 60.0
    region, station, l1, l2, channel = pop["region"], pop["station"], tk["l1"], tk["l2"], tk["channel"]
    l2_code_t = _strings(ct["l2_codes"])
    deadline, sla_warnings = sla_deadlines(created_dt, pd.Series(pd.array(_take(l2_code_t, l2),
                                                                          dtype="string")), ins)
    sla_met = (resolved_dt <= deadline).astype("boolean")
    text = {  # canonical text columns as Arrow arrays (no Python objects for a million rows)
        "ticket_id": ex["ticket"], "customer_id": ex["cust_str"],
        "region": _take(ex["region_t"], region), "station": _take(ex["station_t"], station),
        "channel": _take(_strings(ct["ch_codes"]), channel),
        "cause_l1": _take(_strings(ct["l1_codes"]), l1), "cause_l2": _take(l2_code_t, l2),
    }

    def frame(idx: np.ndarray | None) -> dict[str, Any]:
        sel = (lambda a: a) if idx is None else (lambda a: a.take(pa.array(idx)))
        pick = (lambda x: x) if idx is None else (lambda x: x.iloc[idx].reset_index(drop=True))
        out: dict[str, Any] = {k: pd.array(sel(v), dtype="string") for k, v in text.items()}
        out.update(created_at=pick(created_dt), resolved_at=pick(resolved_dt),
                   handling_hours=hours if idx is None else hours[idx],
                   sla_deadline=pick(deadline), sla_met=pick(sla_met))
        return out

    wo = frame(None)
    wo["survey_status"] = pd.array(_take(_strings(STATUS_CODES), pop["status"]), dtype="string")
    wo["source_row"] = np.arange(1, m + 1, dtype=np.int64)
    workorders = schema.conform(pd.DataFrame(wo), "workorders")

    plan = ex["plan"]
    acc = plan["accepted"]  # indices into the n survey rows, in export order
    take_rows = tk["rows"][acc]
    resp = frame(take_rows)
    resp["surveyed_at"] = ts(tk["surveyed_min"][take_rows])
    resp["repeat_calls"] = pd.array(tk["repeat_calls"][take_rows], dtype="Int64")
    resp["resolved"] = pd.array(_take(_strings(RESOLVED_CODES), tk["resolved"][take_rows]), dtype="string")
    for item in SAT_ITEMS:
        a = rest["answers"][item][acc]
        resp[item] = pd.Series(a).where(a > 0).astype("Int64")
    comment = pd.Series(pd.array(rest["comment_masked"].take(pa.array(acc)), dtype="string"))
    resp["comment"] = comment.mask(comment == "")
    thr = ins.satisfied_threshold
    resp["satisfied"] = (resp["sat_overall"] >= thr).astype("boolean")
    resp["repeat"] = pd.Series(resp["repeat_calls"] > 0, dtype="boolean")
    resp["source_row"] = plan["accepted_source_row"].astype(np.int64)
    responses = schema.conform(pd.DataFrame(resp), "survey")

    population = pd.DataFrame({
        "ticket_id": workorders["ticket_id"], "customer_id": workorders["customer_id"],
        "region": pd.Categorical.from_codes(region, ct["regions"]),
        "station": pd.Categorical.from_codes(station, ct["station_names"]),
        "channel": pd.Categorical.from_codes(channel, ct["ch_codes"]),
        "cause_l1": pd.Categorical.from_codes(l1, ct["l1_codes"]),
        "cause_l2": pd.Categorical.from_codes(l2, ct["l2_codes"]),
        "created_at": created_dt, "resolved_at": resolved_dt, "handling_hours": hours,
        "sla_met": sla_met, "repeat_calls": tk["repeat_calls"],
        "resolved": pd.Categorical.from_codes(tk["resolved"], RESOLVED_CODES),
        "station_effect": tk["station_effect"][station],
        "eta": tk["eta"], "p_complete": pop["p_complete"],
        "survey_status": pd.Categorical.from_codes(pop["status"], STATUS_CODES),
        **{item: tk["sat"][item] for item in SAT_ITEMS},
    })
    population["satisfied"] = population["sat_overall"] >= thr
    sla_hours = ((deadline - created_dt) / pd.Timedelta(hours=1)).to_numpy(dtype=float, na_value=np.nan)
    return {"workorders": workorders, "responses": responses, "population": population,
            "sla_warnings": sla_warnings, "sla_hours": sla_hours}
