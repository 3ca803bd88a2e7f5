"""Every zh/en word a reader sees, by machine name: :data:`WORDS` and :func:`word`.

Result frames and CSVs carry machine names only (``outage``, ``rake``, ``concentrate_here``);
tables, figures, the report and the bulletin turn them into words here, at display time.
One key, one concept: two keys with the same Chinese text have the same English text and vice
versa (``tests/artifacts/test_words.py`` checks it, and that every table, figure and bulletin table in
both languages finds a word for every key it asks for).

Words that are data stay in their files and are reached through :func:`word` with a
namespaced key ``<kind>:<code>``:

- instrument codes (``cause_l1:outage``, ``channel:hotline``, ``resolved:yes``) and item
  names (``item:sat_overall``): ``surveys/*.yaml`` (pass ``instrument=``);
- model and lever names (``model:ordinal``, ``lever:halve_outage``):
  ``paper/analysis_plan.yaml`` (pass ``plan=``).

A word may hold ``str.format`` fields (``{level}``, ``{n:,}``): :func:`word` fills them from its
keyword arguments. ``{level}`` is the confidence level shown, from the plan's ``conf_level``
(:func:`level_text`). How to add a word or a table: ``docs/architecture.md``.

The fixed words are written down by domain, each in exactly one module of this package
(:mod:`~research.artifacts.words.fit`, :mod:`~research.artifacts.words.weights`,
:mod:`~research.artifacts.words.strategy`, :mod:`~research.artifacts.words.bulletin`,
:mod:`~research.artifacts.words.notes`, :mod:`~research.artifacts.words.report`); :data:`WORDS` joins them and refuses a key written in
two places. :func:`word` (with :func:`template` and :func:`has_word`) is the one lookup.
"""

from __future__ import annotations

import string

from research.artifacts.words import bulletin, fit, notes, report, strategy, weights

LANGS = ("zh", "en")


class MissingWord(KeyError):
    """A display word asked for that :data:`WORDS` (or the instrument / plan) does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def _join(*domains) -> dict[str, tuple[str, str]]:
    """The words of every domain module in one dict; ValueError naming a key written in two modules."""
    out: dict[str, tuple[str, str]] = {}
    for module in domains:
        twice = sorted(set(out) & set(module.WORDS))
        if twice:
            raise ValueError(f"display words written twice (again in {module.__name__}): {twice}")
        out.update(module.WORDS)
    return out


#: fixed words: machine name -> (zh, en), from the domain modules of this package
WORDS: dict[str, tuple[str, str]] = _join(fit, weights, strategy, bulletin, notes, report)


def level_text(conf_level: float) -> str:
    """The confidence level as shown: 0.95 -> ``95%``, 0.9 -> ``90%``, 0.995 -> ``99.5%``."""
    return f"{100 * float(conf_level):g}%"


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _pair(key: str, instrument, plan) -> tuple[str, str]:
    """(zh, en) of ``key``: a fixed word, or ``<kind>:<code>`` from the instrument or the plan."""
    if key in WORDS:
        return WORDS[key]
    kind, sep, code = key.partition(":")
    if sep and kind in ("model", "lever") and plan is not None:
        named = {m.name: m for m in (plan.models if kind == "model" else _levers(plan))}
        if code in named:
            return named[code].zh, named[code].en
    elif sep and kind == "item" and instrument is not None:
        for item in instrument.items:
            if item.name == code:
                return item.zh, item.en
    elif sep and instrument is not None and kind in instrument.label_sets:
        ls = instrument.label_sets[kind]
        zh, en = ls.zh(), ls.en()
        if code in zh:
            return zh[code], en[code]
    where = {"model": "the plan", "lever": "the plan", "item": "the instrument"}.get(kind, "the instrument")
    raise MissingWord(f"no display word for {key!r}: add it to research.artifacts.words.WORDS"
                      + (f" (or to {where})" if sep else ""))


def _levers(plan) -> tuple:
    spec = getattr(plan, "scenarios", None)
    return tuple(getattr(spec, "levers", None) or ())


def word(key: str, lang: str, *, instrument=None, plan=None, **fields) -> str:
    """The word a reader sees for machine name ``key`` in ``lang`` (``zh`` or ``en``).

    ``key``: a key of :data:`WORDS`, or ``<kind>:<code>`` looked up in ``instrument`` (a label
    set such as ``cause_l1``, ``channel``; ``item``) or ``plan`` (``model``, ``lever``).
    ``fields``: values of the word's ``str.format`` fields (e.g. ``level=level_text(0.95)``);
    a word with fields needs all of them.

    Raises :class:`MissingWord` for an unknown key or a missing field, ValueError for an unknown
    language: a word a reader would otherwise see as a machine name fails the build instead.
    """
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {list(LANGS)}, got {lang!r}")
    template = _pair(key, instrument, plan)[0 if lang == "zh" else 1]
    needed = _fields(template)
    if not needed:
        return template
    missing = sorted(needed - set(fields))
    if missing:
        raise MissingWord(f"display word {key!r} needs {', '.join(missing)}")
    return template.format(**fields)


def template(key: str, lang: str) -> str:
    """The word of ``key`` with its ``{...}`` fields unfilled (for callers that fill them later)."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {list(LANGS)}, got {lang!r}")
    return _pair(key, None, None)[0 if lang == "zh" else 1]


def has_word(key: str) -> bool:
    """Whether ``key`` is a fixed word of :data:`WORDS`."""
    return key in WORDS
