"""The notebooks run top to bottom with the README's command, read a current build, and hold no
analysis code.

The README's notebook command (section "## Notebooks", repeated in ``notebooks/README.md``) is
run exactly as written, in a shell, in a copy of ``notebooks/`` (so the executed ``.ipynb`` files
land in a temporary folder, not the checkout), with ``RESEARCH_BUILD`` pointing at the session's
shared build of the sample (``sample_build`` in conftest.py): the notebooks must read it, not
recompute. Its kernel is a kernel spec named ``python3`` written to a temporary ``JUPYTER_PATH``
that starts ipykernel with the interpreter running the tests, so no installed kernel and no
network are needed. :mod:`research.pipeline.notebook_data`, which decides between the build and a
recompute, is tested on copies of that build.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbconvert")  # jupytext --execute runs nbconvert's ExecutePreprocessor
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
#: kernel name the notebooks' metadata names; the test's spec points at ``sys.executable``
KERNEL_NAME = "python3"
#: seconds the README command may take for all notebooks before the test gives up
COMMAND_TIMEOUT = 600

#: per notebook: strings the text outputs must contain, number of figures shown,
#: and strings the last code cell's output must contain
EXPECTED = {
    "01_explore.py": {
        "outputs": ["rows read 20,030", "conflicting_duplicate", "work_orders", "row_type",
                    "rate_conf_low", "sla_met_share"],
        "figures": 4,
        "last": ["responses accepted: 19,920", "satisfied rate (unweighted): 80.9%"],
    },
    "02_models.py": {
        "outputs": ["threshold bootstrap: ", "speed_by_cause", "omnibus",
                    "maintenance_outage_frequency", "cause_l1[outage]:log2(1 + handling_hours)"],
        "figures": 3,
        "last": ["models fitted: 6", "Brant omnibus p (ordinal)"],
    },
    "03_strategy.py": {
        "outputs": ["threshold bootstrap: ", "threshold_hours", "repeat", "odds_ratio",
                    "fit/thresholds.csv"],
        "figures": 0,
        "last": ["threshold_shortest_cause", "repeat_odds_ratio", "sat_rate_overall", "80.9%"],
    },
}


def test_every_notebook_is_tested():
    found = sorted(p.name for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
    assert found == sorted(EXPECTED), f"notebooks {found} vs tested {sorted(EXPECTED)}"


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_defines_no_functions(name):
    nb = jupytext.read(NOTEBOOK_DIR / name)
    for i, cell in enumerate(_code_cells(nb)):
        for line in cell.source.splitlines():
            stripped = line.lstrip()
            assert not stripped.startswith(("def ", "class ", "async def ")), (
                f"{name}, code cell {i}: defines {stripped!r}; analysis belongs in the package")
            assert "lambda" not in stripped, f"{name}, code cell {i}: lambda in {stripped!r}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_has_numbered_steps(name):
    nb = jupytext.read(NOTEBOOK_DIR / name)
    steps = [c.source.splitlines()[0] for c in nb.cells
             if c.cell_type == "markdown" and c.source.startswith("## ")]
    numbers = [int(s.split()[1]) for s in steps]
    assert numbers == list(range(1, len(numbers) + 1)), f"{name}: step headings {steps}"


# --- the README's command ---------------------------------------------------------------------------

def _section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section of a Markdown text."""
    match = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def readme_command() -> str:
    """The first ``bash`` block of README.md's "## Notebooks" section: the notebook command."""
    section = _section((ROOT / "README.md").read_text(encoding="utf-8"), "Notebooks")
    blocks = re.findall(r"^```bash\n(.*?)^```", section, re.S | re.M)
    assert blocks, "README.md, section Notebooks: no ```bash block with the notebook command"
    lines = [line for line in blocks[0].splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 1, f"README.md, section Notebooks: expected one command, got {lines}"
    return lines[0].strip()


def test_notebooks_readme_gives_the_same_command():
    assert readme_command() in (NOTEBOOK_DIR / "README.md").read_text(encoding="utf-8")


def test_readme_names_the_extras_it_needs():
    section = _section((ROOT / "README.md").read_text(encoding="utf-8"), "Notebooks")
    assert '".[notebooks]"' in section and "RESEARCH_BUILD" in section


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory) -> Path:
    """A kernel spec named ``python3`` that starts ipykernel with this interpreter."""
    root = tmp_path_factory.mktemp("jupyter")
    spec_dir = root / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"Python 3 ({sys.executable})", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def executed(sample_build, kernel_dir, tmp_path_factory):
    """Run the README's command once, as written, against the session's build.

    Returns (completed process, seconds, {notebook name: executed notebook or None}).
    """
    folder = sample_build[0]
    work = tmp_path_factory.mktemp("readme_command")
    (work / "notebooks").mkdir()
    for name in EXPECTED:
        shutil.copy2(NOTEBOOK_DIR / name, work / "notebooks" / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESEARCH_NOTEBOOK_")}
    env.update({
        "RESEARCH_BUILD": str(folder),
        "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
        "JUPYTER_PATH": str(kernel_dir),  # searched before the user's and the system's kernels
        "MPLBACKEND": "Agg",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
        # keep the kernel's IPython and Jupyter runtime files out of the user's home
        "IPYTHONDIR": str(work / "ipython"), "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    })
    start = time.perf_counter()
    done = subprocess.run(readme_command(), shell=True, cwd=work, env=env, capture_output=True,
                          text=True, timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    books = {}
    for name in EXPECTED:
        path = work / "notebooks" / Path(name).with_suffix(".ipynb")
        books[name] = nbformat.read(path, as_version=4) if path.exists() else None
    return done, seconds, books


def _text(output) -> str:
    """The text of one cell output (stream text, plain-text repr, or an error)."""
    if output.output_type == "stream":
        return output.text
    if output.output_type in ("execute_result", "display_data"):
        return output.get("data", {}).get("text/plain", "")
    if output.output_type == "error":
        return "\n".join(output.get("traceback", []))
    return ""


def _seconds(nb) -> float:
    """Execution time of a notebook's cells, first input to last reply (kernel start excluded)."""
    times = [c.metadata.get("execution", {}) for c in _code_cells(nb)]
    start = datetime.fromisoformat(times[0]["iopub.execute_input"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(times[-1]["shell.execute_reply"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def test_readme_command_runs(executed):
    done, seconds, books = executed
    assert done.returncode == 0, f"{readme_command()!r} exited {done.returncode}:\n{done.stderr[-3000:]}"
    print(f"{readme_command()!r}: {seconds:.1f} s for {len(books)} notebooks")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs(name, executed):
    done, _, books = executed
    nb = books[name]
    assert nb is not None, (f"{name}: the README command wrote no executed notebook (exit "
                            f"{done.returncode}):\n{done.stderr[-3000:]}")
    cells = _code_cells(nb)
    errors = [(i, o.get("ename")) for i, c in enumerate(cells) for o in c.outputs
              if o.output_type == "error"]
    assert not errors, f"{name}: cells with errors {errors}"
    unexecuted = [i for i, c in enumerate(cells) if c.execution_count is None]
    assert not unexecuted, f"{name}: code cells not executed {unexecuted}"
    print(f"{name}: cells executed in {_seconds(nb):.1f} s")

    text = "\n".join(_text(o) for c in cells for o in c.outputs)
    # the build was read, not recomputed: the first line printed says so
    assert "(current: built from the sample exports" in text, f"{name}: did not read the current build"
    assert "recomputing" not in text
    expected = EXPECTED[name]
    missing = [s for s in expected["outputs"] if s not in text]
    assert not missing, f"{name}: outputs lack {missing}"

    figures = sum("image/png" in o.get("data", {}) for c in cells for o in c.outputs)
    assert figures == expected["figures"], (
        f"{name}: {figures} figures shown, expected {expected['figures']}")

    last = "\n".join(_text(o) for o in cells[-1].outputs)
    missing = [s for s in expected["last"] if s not in last]
    assert not missing, f"{name}: last cell output lacks {missing}:\n{last}"


# --- research.pipeline.notebook_data: build or recompute -----------------------------------------------------

@pytest.fixture
def build_copy(sample_build, tmp_path) -> Path:
    """A copy of the session's build, to change."""
    folder = tmp_path / "build"
    shutil.copytree(sample_build[0], folder)
    return folder


def test_the_session_build_is_current(sample_build, monkeypatch):
    from research.pipeline import notebook_data

    monkeypatch.setenv("RESEARCH_BUILD", str(sample_build[0]))
    assert notebook_data.build_folder() == sample_build[0]
    status = notebook_data.build_status()
    assert (status.usable, status.current, status.reason) == (True, True, "")


def test_a_stale_build_is_shown_with_the_reason(build_copy, monkeypatch):
    from research.pipeline import notebook_data

    monkeypatch.delenv("RESEARCH_NOTEBOOK_RECOMPUTE", raising=False)
    manifest = json.loads((build_copy / "manifest.json").read_text(encoding="utf-8"))
    manifest["inputs"] = [dict(i, sha256="0" * 64) if i["role"] == "survey" else i for i in manifest["inputs"]]
    (build_copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    data = notebook_data.load(folder=build_copy)
    assert data.source == "build" and not data.status.current
    assert "NOT current (built from another survey export" in data.message
    assert "\n" not in data.message
    assert len(data.values) and {"thresholds", "estimates", "levers"} <= set(data.results)


def test_a_changed_plan_or_file_is_not_current(sample_build, build_copy, tmp_path):
    from research.pipeline import notebook_data
    from research.config.plan import plan_path

    other_plan = tmp_path / "plan.yaml"
    other_plan.write_text(plan_path().read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    status = notebook_data.build_status(sample_build[0], plan_path=other_plan)
    assert status.usable and not status.current and "another plan" in status.reason

    with open(build_copy / "fit" / "thresholds.csv", "a", encoding="utf-8") as fh:
        fh.write("\n")
    status = notebook_data.build_status(build_copy)
    assert status.usable and not status.current and "fit/thresholds.csv (differs)" in status.reason


def test_an_unusable_build_is_recomputed(build_copy, tmp_path, monkeypatch):
    """Absent or marked incomplete: recomputed (here ingest only, and the fit taken from the build
    so that the test stays fast) and the same tables come out."""
    from research.pipeline import notebook_data
    from research.pipeline.buildstate import MARKER

    status = notebook_data.build_status(tmp_path / "absent")
    assert not status.usable and "no build there" in status.reason

    (build_copy / MARKER).write_text("interrupted\n", encoding="utf-8")
    status = notebook_data.build_status(build_copy)
    assert not status.usable and "incomplete" in status.reason

    data = notebook_data.load(folder=build_copy, models=False)
    assert data.source == "recomputed" and data.message.startswith("recomputing from the raw exports (ingest)")
    assert data.values is None and data.results == {}
    built = pd.read_csv(build_copy / "tables" / "T01_sample.csv")
    pd.testing.assert_frame_equal(data.table("T01").reset_index(drop=True), built, check_dtype=False)

    # with models: the ingest just made and the build's own fit tables stand in for ingest and
    # fit_plan (the real fit takes ~30 s); what load does with them is what is tested
    fitted = {p.stem: pd.read_csv(p) for p in sorted((build_copy / "fit").glob("*.csv"))}
    ingested = data.ingest
    # (the package exports a function named like the module: patch the module itself)
    monkeypatch.setattr(importlib.import_module("research.ingestion.run"), "ingest", lambda *a, **k: ingested)
    monkeypatch.setattr("research.models.run.fit_plan", lambda *a, **k: fitted)
    monkeypatch.setenv("RESEARCH_NOTEBOOK_BOOT_REPS", "7")
    (build_copy / MARKER).unlink()
    monkeypatch.setenv("RESEARCH_NOTEBOOK_RECOMPUTE", "1")
    data = notebook_data.load(folder=build_copy)
    assert data.source == "recomputed" and "as asked" in data.message and "7 threshold bootstrap" in data.message
    assert data.threshold_reps == 7 and data.plan.thresholds.bootstrap_reps == 7
    assert "threshold_shortest_cause" in set(data.values["name"])
    assert data.figure("F04", "en").data.startswith(b"\x89PNG")  # drawn now, in the package's theme
