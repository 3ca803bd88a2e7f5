"""Display lookups by kind of machine name, all through :func:`research.artifacts.words.word`.

Fixed words are in :data:`research.artifacts.words.WORDS` (the one zh/en mapping); codes of
causes, channels and answers come from the instrument (``surveys/*.yaml``), model and lever
names from the analysis plan, both reached through the same :func:`~research.artifacts.words.word`.
"""

from __future__ import annotations

import re

import pandas as pd

from research.artifacts.words import LANGS, has_word, template, word
from research.config.instrument import Instrument
from research.config.plan import Plan

Lang = str  # "zh" | "en"

__all__ = ["LANGS", "Lang", "text", "code", "model", "lever", "term", "with_lever_names"]


def text(name: str, lang: Lang) -> str:
    """The fixed word ``name`` (:data:`research.artifacts.words.WORDS`), ``{...}`` fields unfilled;
    :class:`~research.artifacts.words.MissingWord` when there is none."""
    return template(name, lang)


def code(kind: str, value: str, lang: Lang, instrument: Instrument) -> str:
    """Label of an instrument code: ``kind`` is a label set (cause_l1, cause_l2, channel, resolved, ...).

    A ``kind`` that is not a label set of the instrument (a free variable such as a station or a
    region name) is shown as the value itself; an unknown code of a label set raises
    :class:`~research.artifacts.words.MissingWord`."""
    if kind not in instrument.label_sets:
        return value
    return word(f"{kind}:{value}", lang, instrument=instrument)


def model(name: str, lang: Lang, plan: Plan) -> str:
    """Name of a model of the plan."""
    return word(f"model:{name}", lang, plan=plan)


def lever(name: str, lang: Lang, plan: Plan) -> str:
    """Name of a lever of the plan."""
    return word(f"lever:{name}", lang, plan=plan)


def term(name: str, lang: Lang, instrument: Instrument) -> str:
    """Readable label of a coefficient name such as ``cause_l2[staff_attitude]`` or
    ``cause_l1[outage]:log2(1 + handling_hours)``.

    A bare variable of the plan's formulas without a fixed word (a covariate a user added) is
    shown by its name: the formula, not this package, chose it."""
    parts = []
    for piece in name.split(":"):
        m = re.fullmatch(r"(\w+)\[(.+)\]", piece)
        if m:
            parts.append(code(m.group(1), m.group(2), lang, instrument))
        elif piece == "log2(1 + handling_hours)":
            parts.append(word("handling_time_log2", lang))
        elif re.fullmatch(r"\d+\|\d+", piece):
            parts.append(word("cutpoint_term", lang, cut=piece))
        else:
            parts.append(word(piece, lang) if has_word(piece) else piece)
    return " × ".join(parts)


def with_lever_names(levers: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """The lever results with the readers' names added for ``strategy/levers.csv``: columns ``zh`` and
    ``en`` (the plan's names of each ``lever``) after ``rank, lever``. The computation
    (:func:`research.strategy.scenarios.run_levers`) returns machine names only."""
    out = levers.copy()
    if "lever" not in out.columns:  # no levers in the plan: nothing to name
        return out
    at = min(2, len(out.columns))
    for i, lang in enumerate(LANGS):
        out.insert(at + i, lang, [lever(str(n), lang, plan) for n in out["lever"]])
    return out
