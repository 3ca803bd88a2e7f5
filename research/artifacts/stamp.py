"""The footer stamp every table and figure carries: data hash, code commit, seed."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass

from research import paths
from research.artifacts.words import word


@dataclass(frozen=True)
class Stamp:
    """data_sha256: sha256 over the input exports' hashes; commit: git commit of the code
    (``unknown`` outside a checkout, ``+dirty`` with uncommitted changes); seed: the random seed
    (None for outputs that draw no random numbers, e.g. the bulletin: then not shown)."""

    data_sha256: str
    commit: str
    seed: int | None = None

    def text(self, lang: str) -> str:
        """The stamp line in ``lang`` (words from :mod:`research.artifacts.words`)."""
        out = word("stamp", lang, data=self.data_sha256[:12], commit=self.commit)
        return out if self.seed is None else word("stamp_seed", lang, stamp=out, seed=self.seed)


#: bundle keys whose numbers come from a seeded bootstrap -> the manifest's name of that seed
SEEDED_RESULTS = {"thresholds": "threshold_bootstrap", "levers": "lever_bootstrap",
                  "drivers_importance": "driver_bootstrap", "drivers_ipa": "driver_bootstrap"}


def stamp_for(base: Stamp, reads: tuple[str, ...], seeds: dict[str, int]) -> Stamp:
    """The stamp of one artifact: ``base`` with the seed of the bootstrap its numbers come from
    (:data:`SEEDED_RESULTS` of the bundle keys it ``reads``), or no seed when it draws on none."""
    used = sorted({SEEDED_RESULTS[r] for r in reads if r in SEEDED_RESULTS})
    seed = seeds.get(used[0]) if len(used) == 1 else None
    return Stamp(base.data_sha256, base.commit, seed)


def data_hash(file_hashes: list[str]) -> str:
    """One sha256 over the sha256 of each input file (in the order given)."""
    return hashlib.sha256("\n".join(file_hashes).encode()).hexdigest()


def git_commit() -> str:
    """Short commit of the checkout holding the package, ``+dirty`` when it has changes."""
    root = paths.project_root()
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=10", "HEAD"],
                                capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")
