"""The notebooks run top to bottom on the committed sample, and hold no analysis code.

Each ``notebooks/NN_*.py`` (jupytext percent format, the source of truth) is read
with jupytext and executed with nbclient in a fresh kernel of the interpreter
running the tests (a kernel spec written to a temporary ``JUPYTER_PATH``, so no
installed ``python3`` kernel and no network are needed). The threshold bootstrap
is reduced through ``RESEARCH_NOTEBOOK_BOOT_REPS``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
#: kernel name used by the test; its spec points at ``sys.executable``
KERNEL_NAME = "python3"
#: bootstrap replicates of the threshold analysis in the notebooks (the report uses the plan's 200)
BOOT_REPS = 20
#: seconds a single cell may take before nbclient gives up
CELL_TIMEOUT = 600

#: per notebook: strings the text outputs must contain, number of figures drawn,
#: and strings the last code cell's output must contain
EXPECTED = {
    "01_explore.py": {
        "outputs": ["rows read 20,030", "conflicting_duplicate", "work_orders", "row_type",
                    "rate_conf_low", "sla_met_share"],
        "figures": 4,
        "last": ["responses accepted: 19,920", "satisfied rate (unweighted): 80.9%"],
    },
    "02_models.py": {
        "outputs": ["threshold bootstrap: 20 replicates", "speed_by_cause", "omnibus",
                    "maintenance_outage_frequency", "cause_l1[outage]:log2(1 + handling_hours)"],
        "figures": 3,
        "last": ["models fitted: 6", "Brant omnibus p (ordinal)"],
    },
    "03_strategy.py": {
        "outputs": ["threshold bootstrap: 20 replicates", "threshold_hours", "repeat", "odds_ratio",
                    "fit/thresholds.csv"],
        "figures": 0,
        "last": ["threshold_shortest_cause", "repeat_odds_ratio", "sat_rate_overall", "80.9%"],
    },
}


def test_every_notebook_is_tested():
    found = sorted(p.name for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
    assert found == sorted(EXPECTED), f"notebooks {found} vs tested {sorted(EXPECTED)}"


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


@pytest.fixture
def notebook_env(monkeypatch, kernel_dir, tmp_path):
    """The kernel's environment: reduced bootstrap, fixed key, no display, our kernel spec first."""
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_dir))  # searched before user and system folders
    monkeypatch.setenv("RESEARCH_NOTEBOOK_BOOT_REPS", str(BOOT_REPS))
    monkeypatch.setenv("RESEARCH_PSEUDONYM_KEY", "notebook-test-key-0123")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # one BLAS thread: on a busy 2-core runner, OpenBLAS threads inside a kernel made the
    # threshold bootstrap ~10x slower (6 s instead of 0.6 s); the values asserted are rounded
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # keep the kernel's IPython and Jupyter runtime files out of the user's home
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")


def _text(output) -> str:
    """The text of one cell output (stream text, plain-text repr, or an error)."""
    if output.output_type == "stream":
        return output.text
    if output.output_type in ("execute_result", "display_data"):
        return output.get("data", {}).get("text/plain", "")
    if output.output_type == "error":
        return "\n".join(output.get("traceback", []))
    return ""


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


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs(name, notebook_env, tmp_path):
    from nbclient import NotebookClient

    nb = jupytext.read(NOTEBOOK_DIR / name)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name=KERNEL_NAME,
                            resources={"metadata": {"path": str(tmp_path)}})
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError naming the cell on the first error
    seconds = time.perf_counter() - start
    print(f"{name}: executed in {seconds:.1f} s")

    cells = _code_cells(nb)
    errors = [(i, o.get("ename")) for i, c in enumerate(cells) for o in c.outputs
              if o.output_type == "error"]
    assert not errors, f"{name}: cells with errors {errors}"
    unexecuted = [i for i, c in enumerate(cells) if c.execution_count is None]
    assert not unexecuted, f"{name}: code cells not executed {unexecuted}"

    expected = EXPECTED[name]
    text = "\n".join(_text(o) for c in cells for o in c.outputs)
    missing = [s for s in expected["outputs"] if s not in text]
    assert not missing, f"{name}: outputs lack {missing}"

    figures = sum("image/png" in o.get("data", {}) for c in cells for o in c.outputs)
    assert figures == expected["figures"], (
        f"{name}: {figures} figures drawn, expected {expected['figures']}")

    last = "\n".join(_text(o) for o in cells[-1].outputs)
    missing = [s for s in expected["last"] if s not in last]
    assert not missing, f"{name}: last cell output lacks {missing}:\n{last}"
