"""Old module names (before the stage sub-packages of issue 13) keep importing.

The package was flat until 2026-11; scripts and notebooks written against it
import ``research.plan``, ``research.scenarios``, ``research.models.ordinal``
and so on. :data:`MOVED` maps each old dotted name to its new home and
:class:`_OldNames`, installed on :data:`sys.meta_path` by ``research/__init__``,
makes ``import research.plan`` return the very module object of
``research.config.plan`` (so ``monkeypatch.setattr`` through either name
patches the same thing), with a :class:`DeprecationWarning` naming the new name.

``research.representativeness`` became a package: its ``__init__`` re-exports the
public names of its ``run`` module. ``research.ingest`` is special: ``research``
itself exports the *function* ``ingest`` under that attribute, so the stage is the
package ``research.ingestion`` and ``research/__init__`` registers the old module
name ``research.ingest`` as :mod:`research.ingestion.run` directly (no warning):
``from research.ingest import ingest, write_ingest`` keeps working.

Written by hand because the standard library has no module-alias helper;
``importlib`` documents the finder/loader protocol used here.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {  # old dotted name -> new dotted name
    "research.instrument": "research.config.instrument",
    "research.plan": "research.config.plan",
    "research.yamlfile": "research.config.yamlfile",
    "research.formula": "research.config.formula",
    "research.readers": "research.ingestion.readers",
    "research.parse": "research.ingestion.parse",
    "research.pseudonymise": "research.ingestion.pseudonymise",
    "research.sla": "research.ingestion.sla",
    "research.derive": "research.ingestion.derive",
    "research.schema": "research.ingestion.schema",
    "research.design_based": "research.stats.design_based",
    "research.weights": "research.stats.weights",
    "research.comparisons": "research.stats.comparisons",
    "research.reliability": "research.stats.reliability",
    "research.models.sandwich": "research.stats.sandwich",
    "research.models.ordinal": "research.stats.ordinal",
    "research.models.mixed": "research.stats.mixed",
    "research.models.changepoint": "research.stats.changepoint",
    "research.representativeness": "research.representativeness.run",
    "research.nonresponse": "research.representativeness.nonresponse",
    "research.scenarios": "research.strategy.scenarios",
    "research.causal": "research.strategy.causal",
    "research.sensitivity": "research.strategy.sensitivity",
    "research.drivers": "research.strategy.drivers",
    "research.drivers_null": "research.strategy.drivers_null",
    "research.monitoring": "research.strategy.monitoring",
    "research.stations": "research.strategy.stations",
    "research.reproduce": "research.pipeline.reproduce",
    "research.buildstate": "research.pipeline.buildstate",
    "research.notebook_data": "research.pipeline.notebook_data",
}


class _OldNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finder and loader of the old names: the module is the new one."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return None  # a placeholder, replaced in sys.modules by exec_module

    def exec_module(self, module) -> None:
        new = MOVED[module.__name__]
        warnings.warn(f"{module.__name__} moved to {new}; import it from there",
                      DeprecationWarning, stacklevel=2)
        # importlib returns whatever sys.modules holds under the name after exec_module
        sys.modules[module.__name__] = importlib.import_module(new)


def install() -> None:
    """Put the old-name finder on ``sys.meta_path`` once (idempotent)."""
    if not any(isinstance(f, _OldNames) for f in sys.meta_path):
        sys.meta_path.append(_OldNames())
