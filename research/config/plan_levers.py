"""The analysis plan's ``scenarios`` section: the lever model, its post-treatment variables and
the levers, read and validated in a causal frame.

In: the plan's :class:`research.config.yamlfile.YamlFile`, the section's node (None without
one) and the plan's models. Out: :class:`research.config.plan_specs.ScenarioSpec`, or
:class:`research.errors.InputError` naming the file and the key.
"""

from __future__ import annotations

from research.config.plan_fields import at_most, bootstrap, finite, identifier
from research.config.plan_specs import (LEVER_KINDS, LEVER_SETTABLE, MAX_FACTOR, MAX_HOURS, MAX_LEVERS,
                                        POST_TREATMENT, VARIABLES, Lever, ModelSpec, ScenarioSpec)
from research.config.yamlfile import YamlFile


def read_scenarios(r: YamlFile, node, models: tuple[ModelSpec, ...]) -> ScenarioSpec | None:
    """The lever scenarios, in a causal frame.

    Levers are what a manager can change: handling time (``within_sla``,
    ``scale_hours``, ``target_hours``) and, only for variables not declared
    post-treatment, ``set``. ``post_treatment`` (default ``[resolved, repeat]``)
    lists variables partly caused by the handling or by satisfaction itself:
    the lever model may not adjust for them (conditioning on a consequence of
    the outcome or a mediator biases the lever's total effect; Hernán & Robins
    2020, *Causal Inference: What If*, ch. 8 and 18) and no lever may set them.
    """
    if node is None:
        return None
    w = "scenarios"
    model, post = _lever_model(r, node, w, models)
    reps, seed, cluster = bootstrap(r, node, w)
    nodes = r.seq(node, "levers", w)
    at_most(r, f"{w}.levers", len(nodes), MAX_LEVERS)
    levers = [read_lever(r, lv, f"{w}.levers[{i}]", post) for i, lv in enumerate(nodes)]
    names = [lv.name for lv in levers]
    if len(set(names)) != len(names):
        raise r.fail(f"{w}.levers", f"lever names must be unique: {names}")
    return ScenarioSpec(model=model, levers=tuple(levers), bootstrap_reps=reps, bootstrap_seed=seed,
                        bootstrap_cluster=cluster, post_treatment=tuple(post))


def _lever_model(r: YamlFile, node, w: str, models: tuple[ModelSpec, ...]) -> tuple[str, list[str]]:
    """``scenarios.model`` (a logit of the plan that uses no post-treatment variable) and
    ``scenarios.post_treatment`` (known variables; default :data:`POST_TREATMENT`).

    Returns ``(model name, post-treatment variables)``."""
    model = r.text(node, "model", w)
    known = {m.name: m for m in models}
    if model not in known:
        raise r.fail(f"{w}.model", f"{model!r} is not a model of the plan ({list(known)})")
    if known[model].family != "logit":
        raise r.fail(f"{w}.model", f"{model!r} is a {known[model].family} model; scenarios use a logit of satisfied")
    post = [str(v) for v in r.seq(node, "post_treatment", w, default=list(POST_TREATMENT))]
    bad = [v for v in post if v not in VARIABLES]
    if bad:
        raise r.fail(f"{w}.post_treatment", f"unknown variable(s) {bad}; use some of {list(VARIABLES)}")
    index = [m.name for m in models].index(model)
    used = [v for v in post if v in known[model].variables()[1:]]
    if used:
        raise r.fail(f"{w}.model", f"the lever model {model!r} (models[{index}].rhs) uses {used[0]!r}, declared "
                     f"post-treatment in {w}.post_treatment: it is partly a consequence of the handling or of "
                     "dissatisfaction itself, so adjusting for it biases every lever; take it out of the lever "
                     "model (its association with satisfaction is reported apart)")
    return model, post


def read_lever(r: YamlFile, lv, where: str, post: list[str]) -> Lever:
    """One lever (``where`` is ``scenarios.levers[i]``): name, kind, the cause groups it applies
    to, the kind's own setting (``factor``, ``hours`` in hours, or ``variable``/``value``) and
    the zh/en labels (default: the name). ``post``: the post-treatment variables no lever sets."""
    name = identifier(r, lv, where)
    kind = r.text(lv, "kind", where)
    if kind not in LEVER_KINDS:
        raise r.fail(f"{where}.kind", f"{kind!r} is not one of {list(LEVER_KINDS)}")
    l1 = r.get(lv, "cause_l1", where, (str, type(None)), default=None)
    l2 = r.get(lv, "cause_l2", where, (str, type(None)), default=None)
    factor = variable = value = hours = None
    if kind == "scale_hours":
        factor = finite(r, f"{where}.factor", float(r.get(lv, "factor", where, (int, float))))
        if not factor > 0:
            raise r.fail(f"{where}.factor", "must be positive")
        at_most(r, f"{where}.factor", factor, MAX_FACTOR)
    if kind == "target_hours":
        hours = finite(r, f"{where}.hours", float(r.get(lv, "hours", where, (int, float))))
        if not hours > 0:
            raise r.fail(f"{where}.hours", "must be positive (the target handling time, hours)")
        at_most(r, f"{where}.hours", hours, MAX_HOURS)
    if kind == "set":
        variable, value = _set_lever(r, lv, where, post)
    return Lever(name=name, kind=kind, cause_l1=l1, cause_l2=l2, factor=factor, variable=variable,
                 value=value, zh=r.text(lv, "zh", where, default=name),
                 en=r.text(lv, "en", where, default=name), hours=hours)


def _set_lever(r: YamlFile, lv, where: str, post: list[str]) -> tuple[str, object]:
    """A ``set`` lever's ``variable`` (settable, not post-treatment) and ``value`` (one it takes)."""
    variable = r.text(lv, "variable", where)
    if variable in post:
        raise r.fail(f"{where}.variable", f"{variable!r} is declared post-treatment (scenarios.post_treatment): "
                     "it is partly caused by the handling or by dissatisfaction, not something a manager "
                     "sets; a lever changes handling time or SLA compliance")
    if variable not in LEVER_SETTABLE:
        raise r.fail(f"{where}.variable", f"one of {list(LEVER_SETTABLE)}")
    value = r.get(lv, "value", where)
    if value not in LEVER_SETTABLE[variable]:
        raise r.fail(f"{where}.value", f"{variable} takes one of {list(LEVER_SETTABLE[variable])}")
    return variable, value
