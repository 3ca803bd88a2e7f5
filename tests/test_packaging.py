"""The package outside the checkout: the instrument, the default plan and the report templates
ship in the wheel (pyproject.toml maps surveys/ and paper/ to research/_data/) and
research.paths finds them with importlib.resources when no checkout copy is there.

test_wheel_installed_elsewhere_finds_its_data builds a wheel from a copy of the tree, installs it
with ``pip install --no-deps --target`` and runs it from an empty folder: 8 s with the pinned
setuptools in the environment (built with --no-build-isolation), 9 to 13 s on a busy 2-core machine
when pip has to fetch a build backend (an environment set up before setuptools was pinned in the
dev extra). Under the ~20 s a test may take unmarked, so CI runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import research
from research import cli_parser, paths
from research.config.plan import load_plan

ROOT = paths.project_root()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
#: the files of the checkout that must ship (path in the repository -> path inside the wheel)
SHIPPED = {**{f"surveys/{p.name}": f"research/_data/surveys/{p.name}"
              for p in sorted((ROOT / "surveys").iterdir()) if p.is_file()},
           **{f"paper/{name}": f"research/_data/paper/{name}"
              for name in ("analysis_plan.yaml", "report.zh.md", "report.en.md")}}


def test_pyproject_lists_every_package_of_research():
    """The explicit package list (needed for the data mapping) misses no folder with an __init__.py."""
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "research").rglob("__init__.py")}
    listed = set(SETUPTOOLS["packages"])
    data = set(SETUPTOOLS["package-dir"])
    assert data == {"research._data.surveys", "research._data.paper"}
    assert listed - data == on_disk, f"add {sorted(on_disk - listed)} to [tool.setuptools] packages"
    assert SETUPTOOLS["include-package-data"] is False


def test_locate_prefers_the_project_folder_then_the_package_data(tmp_path, monkeypatch):
    project, shipped = tmp_path / "project", tmp_path / "site" / "research" / "_data"
    monkeypatch.setattr(paths, "project_root", lambda: project)
    monkeypatch.setattr(paths, "in_checkout", lambda: False)
    monkeypatch.setattr(paths, "packaged", lambda rel: shipped.joinpath(*rel.split("/")))
    monkeypatch.delenv("RESEARCH_SURVEYS_DIR", raising=False)
    assert paths.locate("paper/analysis_plan.yaml") == (project / "paper" / "analysis_plan.yaml", "missing")
    (shipped / "paper").mkdir(parents=True)
    (shipped / "paper" / "analysis_plan.yaml").write_text("x", encoding="utf-8")
    (shipped / "surveys").mkdir()
    assert paths.default_plan() == shipped / "paper" / "analysis_plan.yaml"
    assert paths.surveys_dir() == shipped / "surveys"
    (project / "surveys").mkdir(parents=True)
    assert paths.locate("surveys") == (project / "surveys", "current folder")
    assert paths.surveys_dir() == project / "surveys"
    monkeypatch.setenv("RESEARCH_SURVEYS_DIR", str(tmp_path / "mine"))
    assert paths.surveys_dir() == tmp_path / "mine"
    assert paths.where()[0] == ("instrument", tmp_path / "mine", "RESEARCH_SURVEYS_DIR")
    assert paths.where()[1] == ("plan", shipped / "paper" / "analysis_plan.yaml", "package data")


def test_a_checkout_uses_its_own_copies(monkeypatch):
    monkeypatch.delenv("RESEARCH_SURVEYS_DIR", raising=False)
    assert paths.in_checkout()
    assert [source for _, _, source in paths.where()] == ["checkout"] * 4
    assert paths.surveys_dir() == ROOT / "surveys"
    assert paths.default_plan() == ROOT / "paper" / "analysis_plan.yaml"
    assert paths.report_template("zh") == ROOT / "paper" / "report.zh.md"


def test_version_is_the_pyproject_version_in_a_checkout():
    version = PYPROJECT["project"]["version"]
    assert cli_parser.package_version() == version
    assert research.__version__ == version, "research/__init__.py's __version__ lags pyproject.toml"


def _setuptools_builds_here() -> bool:
    """The environment's setuptools can build this pyproject (license as a string: >= 77)."""
    try:
        major = int(metadata.version("setuptools").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return major >= 77


def _build_wheel(tmp: Path) -> Path:
    """A wheel built from a copy of the tree (so no build/ or egg-info lands in the checkout)."""
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for folder in ("research", "surveys", "paper"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(src)]
    if _setuptools_builds_here():
        cmd.insert(4, "--no-build-isolation")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp / "dist").glob("research-*.whl")
    return wheel


#: run from an empty folder with only the installed wheel on the path: prints what it found as JSON
PROBE = """
import json, os, shutil, sys
import pandas as pd
import research
from research import paths
from research.config.instrument import load_instrument
from research.config.plan import load_plan
from research.strategy.typical_cases import segment
instrument, plan = load_instrument(), load_plan()
out = {"file": research.__file__, "where": [[w, str(p), s] for w, p, s in paths.where()],
       "plan": str(paths.default_plan()), "models": [m.name for m in plan.models],
       "causes": list(instrument.label_sets["cause_l1"].codes),
       "words": segment(pd.Series(["低电压抢修太慢"])).iloc[0]}
os.chdir(sys.argv[1])  # a folder holding its own surveys/: that copy wins
out["custom"] = [str(paths.surveys_dir()), paths.locate("surveys")[1]]
print(json.dumps(out, ensure_ascii=False))
"""


def test_wheel_installed_elsewhere_finds_its_data(tmp_path):
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for repo_path, inside in SHIPPED.items():
            assert zf.read(inside) == (ROOT / repo_path).read_bytes(), inside
    assert not any("manifest.json" in n or "/results/" in n for n in names)
    site, cwd, custom = tmp_path / "site", tmp_path / "elsewhere", tmp_path / "custom"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                           str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cwd.mkdir()
    shutil.copytree(ROOT / "surveys", custom / "surveys")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RESEARCH_SURVEYS_DIR")}
    env["PYTHONPATH"] = str(site)
    probe = subprocess.run([sys.executable, "-c", PROBE, str(custom)], cwd=cwd, env=env,
                           capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr[-2000:]
    got = json.loads(probe.stdout)
    data = site / "research" / "_data"
    assert got["file"] == str(site / "research" / "__init__.py")
    assert got["where"] == [["instrument", str(data / "surveys"), "package data"],
                            ["plan", str(data / "paper" / "analysis_plan.yaml"), "package data"],
                            ["report template zh", str(data / "paper" / "report.zh.md"), "package data"],
                            ["report template en", str(data / "paper" / "report.en.md"), "package data"]]
    assert got["models"] == [m.name for m in load_plan().models]
    assert got["causes"] == list(research.load_instrument().label_sets["cause_l1"].codes)
    assert "低电压" in got["words"]  # the domain dictionary surveys/terms.txt was loaded
    assert got["custom"] == [str(custom / "surveys"), "current folder"]
    version = subprocess.run([str(site / "bin" / "research"), "--version"], cwd=cwd, env=env,
                             capture_output=True, text=True, timeout=60)
    assert version.returncode == 0, version.stderr[-2000:]
    lines = version.stdout.splitlines()
    assert lines[0] == f"research {PYPROJECT['project']['version']}"
    assert lines[1:] == [f"{w}: {p} ({s})" for w, p, s in got["where"]]


@pytest.mark.parametrize("argv", [["--version"], ["--version", "list"]])
def test_version_prints_and_exits_0(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli_parser.build_parser().parse_args(argv)
    assert exc.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"research {PYPROJECT['project']['version']}"
    assert [line.split(":")[0] for line in lines[1:]] == ["instrument", "plan", "report template zh",
                                                           "report template en"]


def test_readme_shows_the_check_command_with_the_lines_it_prints():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Outside the checkout", 1)[1].split("\n## ", 1)[0]
    example = section.split("$ cd /tmp && research --version\n", 1)[1].split("```", 1)[0].splitlines()
    assert example[0].startswith("research ")
    assert [line.split(":")[0] for line in example[1:]] == [what for what, _, _ in paths.where()]
    assert all(line.endswith("(package data)") for line in example[1:])
