"""Hostile cases of issue 10 for builds: crash safety, the build lock, verify --built, safe manifests.

Two real (fast-plan) reproduce runs on a small simulated export are shared by the module; every
other case works on copies of that build or on small files in tmp_path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import valid_survey, workorders_for, write_csv
from research.pipeline import buildstate
from research import paths
from research.artifacts.manifest import load_manifest, sha256_file, write_manifest
from research.cli import main
from research.errors import InputError
from research.ingestion.readers import read_export, read_ingested
from research.pipeline.reproduce import BUILT_OK, reproduce, verify, verify_built

CLI = [sys.executable, "-m", "research.cli"]


# --- shared build ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fast_plan(tmp_path_factory) -> Path:
    """The committed plan with every bootstrap and permutation turned off (reps 0): a reproduce in under a minute."""
    text = paths.project_root().joinpath("paper", "analysis_plan.yaml").read_text(encoding="utf-8")
    fast, n = re.subn(r"reps: \d+", "reps: 0", text)
    assert n >= 3, "the plan's bootstrap sections (thresholds, scenarios, drivers) changed shape"
    path = tmp_path_factory.mktemp("plan") / "fast_plan.yaml"
    path.write_text(fast, encoding="utf-8")
    return path


#: hostile place names planted in the shared build: a spreadsheet formula as a region, markup,
#: a pipe, personal numbers and formula starters as stations (issue 10, points 4 and 5)
HOSTILE_REGION = '=HYPERLINK("http://x.invalid","广州")'
HOSTILE_AREAS = ("<script>alert(1)</script>", "张三13912345678", "天|河", "ID110101199003071234",
                 "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))", "越秀")
PLANTED_NUMBERS = ("13912345678", "110101199003071234")


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    """A small simulated export whose first region and its stations carry hostile names."""
    from dataclasses import replace

    from research.simulate import SimParams, simulate, write_simulation

    p = SimParams()
    rename = {"广州": HOSTILE_REGION}
    params = replace(p, region_share={rename.get(k, k): v for k, v in p.region_share.items()},
                     response_region={rename.get(k, k): v for k, v in p.response_region.items()},
                     station_areas={rename.get(k, k): (HOSTILE_AREAS if k == "广州" else v)
                                    for k, v in p.station_areas.items()})
    return write_simulation(simulate(1500, 7, params=params), tmp_path_factory.mktemp("sim"))


@pytest.fixture(scope="module")
def built(tmp_path_factory, exports, fast_plan) -> tuple[Path, dict]:
    """A complete build with work orders (so it has weights/)."""
    root = tmp_path_factory.mktemp("built") / "out"
    manifest = reproduce(exports["survey"], exports["workorders"], root, plan_path=fast_plan)
    return root, manifest


def _copy(built, tmp_path) -> Path:
    root, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    return copy


def _one_error_line(stderr: str, command: str) -> str:
    """The single error line of a failed command (asserts there is exactly one and no traceback)."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"research {command}: error: ")
    assert "internal error" not in lines[0]
    return lines[0]


# --- owned entries only -------------------------------------------------------------------------------

def test_a_build_is_complete_and_carries_no_marker_staging_or_foreign_file(built):
    root, manifest = built
    assert not buildstate.is_incomplete(root) and buildstate.staging_folders(root) == []
    listed = {a["path"] for a in manifest["artifacts"]}
    assert any(p.startswith("weights/") for p in listed)
    assert all(p.split("/", 1)[0] in buildstate.OWNED for p in listed)
    ok, rows = verify_built(root)
    assert ok and {s for _, s, _ in rows} == {"match"} and len(rows) == len(listed)


def test_stale_weights_and_a_user_note_stay_out_of_the_manifest(built, tmp_path, exports, fast_plan):
    copy = _copy(built, tmp_path)
    (copy / "my_notes.txt").write_text("do not touch", encoding="utf-8")
    (copy / "bulletin").mkdir()
    (copy / "bulletin" / "week.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    manifest = reproduce(exports["survey"], None, copy, plan_path=fast_plan)  # no work orders this time
    listed = {a["path"] for a in manifest["artifacts"]}
    assert not any(p.startswith(("weights/", "bulletin/")) for p in listed)
    assert "my_notes.txt" not in listed
    assert not (copy / "weights").exists()  # owned, not produced this time: removed
    assert (copy / "my_notes.txt").read_text(encoding="utf-8") == "do not touch"
    assert (copy / "bulletin" / "week.csv").exists()
    assert json.loads((copy / "manifest.json").read_text(encoding="utf-8")) == json.loads(json.dumps(manifest))
    ok, rows = verify_built(copy)
    assert ok, [r for r in rows if r[1] != "match"][:5]


def test_a_folder_of_user_files_named_like_outputs_is_refused_untouched(tmp_path, exports):
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "mine.docx").write_bytes(b"user data")
    with pytest.raises(InputError, match=r"not a build folder .*report"):
        reproduce(exports["survey"], None, tmp_path)
    assert (tmp_path / "report" / "mine.docx").read_bytes() == b"user data"
    assert buildstate.staging_folders(tmp_path) == []


def test_the_single_commands_outputs_in_the_default_build_folder_are_not_foreign(tmp_path):
    for name in buildstate.COMMAND_OUTPUTS:  # research ingest / fit / weight write these before any reproduce
        (tmp_path / name).mkdir()
    buildstate.check_root(tmp_path)  # accepted: reproduce may replace them
    (tmp_path / "values.csv").write_text("mine\n", encoding="utf-8")
    with pytest.raises(InputError, match="values.csv"):
        buildstate.check_root(tmp_path)


def test_out_pointing_at_an_existing_file_exits_2(tmp_path, exports):
    target = tmp_path / "a_file.txt"
    target.write_text("x", encoding="utf-8")
    proc = subprocess.run([*CLI, "reproduce", "--survey", str(exports["survey"]), "--out", str(target)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert str(target) in _one_error_line(proc.stderr, "reproduce")
    assert target.read_text(encoding="utf-8") == "x"
    with pytest.raises(InputError, match="existing file"):  # the library refuses it too
        reproduce(exports["survey"], None, target)


# --- killed runs -----------------------------------------------------------------------------------

def _kill_when_stage_starts(command: list[str], stage: str) -> subprocess.Popen:
    """Start ``command`` (a reproduce), read its progress lines on standard error and SIGKILL it as
    soon as the line saying ``stage`` starts appears: a kill at a known point of the run, not after
    a guessed sleep (the lines come from research.pipeline.stages.timed)."""
    started = re.compile(rf"\] stage \d+/\d+: {re.escape(stage)}$")
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in proc.stderr:
        seen.append(line.rstrip())
        if started.search(seen[-1]):
            proc.send_signal(signal.SIGKILL)
            break
    proc.stderr.close()
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the run ended before stage {stage} started: {seen[-5:]}"
    return proc


# killed as ingest starts (the staging folder is made, nothing in it yet), as fit starts (ingest
# written into staging) and as representativeness starts (its forked child running beside fit)
@pytest.mark.parametrize("stages", [("ingest", "fit", "representativeness")])
def test_sigkill_mid_run_leaves_the_previous_build_or_a_marked_folder(built, tmp_path, exports, fast_plan, stages):
    root, _ = built
    copy = _copy(built, tmp_path)
    previous = (copy / "manifest.json").read_bytes()
    for stage in stages:
        _kill_when_stage_starts([*CLI, "reproduce", "--survey", str(exports["survey"]), "--workorders",
                                 str(exports["workorders"]), "--out", str(copy), "--plan", str(fast_plan)], stage)
        # killed after it made its staging folder, which stays; each run removed the leftovers of the last
        assert len(buildstate.staging_folders(copy)) == 1
        if buildstate.is_incomplete(copy):
            with pytest.raises(InputError, match="incomplete"):
                verify_built(copy)
            with pytest.raises(InputError, match="incomplete"):
                read_ingested(copy / "ingest" / "responses.parquet", "responses")
        else:
            assert (copy / "manifest.json").read_bytes() == previous
            ok, rows = verify_built(copy)
            assert ok, [r for r in rows if r[1] not in BUILT_OK][:5]
            assert {s for _, s, _ in rows} <= {"match", "leftover"}
            assert len(read_ingested(copy / "ingest" / "responses.parquet", "responses")) == 1500


_PUBLISH_KILLED = textwrap.dedent("""
    import os, signal, sys
    from research.pipeline import buildstate
    moves = {"n": 0}
    real = os.replace
    def replace(src, dst):
        real(src, dst)
        moves["n"] += 1
        if moves["n"] == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)
    buildstate.os.replace = replace
    buildstate.publish(sys.argv[1], sys.argv[2])
""")


# os.replace calls of publish: 1 writes the marker, then two per owned entry (the old one out, the new
# one in): 1 = marker only, 6 = old weights/ out and the new one not yet in, 19 = manifest.json in place
@pytest.mark.parametrize("moves", [1, 6, 19])
def test_sigkill_during_the_swap_leaves_a_folder_marked_incomplete(built, tmp_path, moves, capsys):
    root, _ = built
    copy = _copy(built, tmp_path)
    staging = buildstate.new_staging(copy)
    for name in buildstate.OWNED:  # a finished staging folder: the same build again
        src = root / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, staging / name)
    proc = subprocess.run([sys.executable, "-c", _PUBLISH_KILLED, str(staging), str(copy), str(moves)])
    assert proc.returncode == -signal.SIGKILL
    assert buildstate.is_incomplete(copy)
    with pytest.raises(InputError, match="incomplete"):
        read_ingested(copy / "ingest" / "responses.parquet", "responses")
    assert main(["verify", "--built", str(copy)]) == 2
    assert "marked incomplete" in _one_error_line(capsys.readouterr().err, "verify")


def test_a_killed_ingest_leaves_its_folder_marked_and_refused(tmp_path, monkeypatch):
    import research.safeio
    from research.ingestion.run import ingest, write_ingest

    survey = valid_survey(12)
    write_csv(survey, tmp_path / "s.csv", "utf-8-sig")
    write_csv(workorders_for(survey), tmp_path / "w.csv", "gb18030")
    result = ingest(tmp_path / "s.csv", tmp_path / "w.csv")
    out = tmp_path / "ing"
    write_ingest(result, out)
    assert not buildstate.is_incomplete(out)
    assert len(read_ingested(out / "responses.parquet", "responses")) == 12

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(research.safeio, "write_csv", disk_full)  # dies after the parquet files
    with pytest.raises(OSError):
        write_ingest(result, out)
    assert buildstate.is_incomplete(out)
    with pytest.raises(InputError, match=r"ingest folder is marked incomplete"):
        read_ingested(out / "workorders.parquet", "work-order")
    assert main(["weight", "--data", str(out), "--out", str(tmp_path / "w")]) == 2


# --- the lock ------------------------------------------------------------------------------------------

def test_a_second_concurrent_reproduce_is_refused_at_once_with_exit_2(tmp_path, exports):
    root = tmp_path / "out"
    root.mkdir()
    with buildstate.build_lock(root):  # this process is the running build
        start = time.perf_counter()
        proc = subprocess.run([*CLI, "reproduce", "--survey", str(exports["survey"]), "--out", str(root)],
                              capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        with pytest.raises(InputError, match=f"pid {os.getpid()}"):
            verify_built(root)  # verify --built refuses a folder being rebuilt
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr, "reproduce")
    assert str(root) in line and f"pid {os.getpid()}" in line
    assert elapsed < 60  # refused at once, not after a build (the import alone takes seconds)
    assert sorted(p.name for p in root.iterdir()) == [buildstate.LOCK]  # nothing built, nothing left


def test_a_dead_lock_holder_does_not_block(tmp_path):
    root = tmp_path / "out"
    root.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from research.pipeline.buildstate import build_lock
        with build_lock({str(root)!r}):
            print("locked", flush=True)
            time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(InputError, match=f"pid {holder.pid}"):
            with buildstate.build_lock(root):
                pass
        assert buildstate.lock_holder(root) == str(holder.pid)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert buildstate.lock_holder(root) is None
    with buildstate.build_lock(root):  # the kernel released the dead holder's lock
        assert (root / buildstate.LOCK).read_text().strip() == str(os.getpid())


def test_a_lock_file_planted_as_a_symlink_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    root = tmp_path / "out"
    root.mkdir()
    (root / buildstate.LOCK).symlink_to(victim)
    with pytest.raises(InputError, match="cannot open the build lock"):
        with buildstate.build_lock(root):
            pass
    assert victim.read_text(encoding="utf-8") == "precious"


def test_a_staging_name_planted_as_a_symlink_is_not_removed_through(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("keep", encoding="utf-8")
    root = tmp_path / "out"
    root.mkdir()
    (root / ".staging-planted").symlink_to(target, target_is_directory=True)
    assert buildstate.staging_folders(root) == []
    buildstate.remove_leftovers(root)
    assert (target / "keep.txt").read_text(encoding="utf-8") == "keep"


# --- verify --built ------------------------------------------------------------------------------------

def test_verify_built_catches_a_flipped_byte_in_a_compared_csv(built, tmp_path, capsys):
    copy = _copy(built, tmp_path)
    target = copy / "fit" / "estimates.csv"
    data = bytearray(target.read_bytes())
    data[-3] = ord("7") if data[-3] != ord("7") else ord("8")
    target.write_bytes(bytes(data))
    assert main(["verify", "--built", str(copy)]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^differs\s+fit/estimates\.csv", out, re.M)
    assert "1 differs, 0 missing" in out and "verify: DIFFERENCES found" in out


def test_verify_built_catches_a_deleted_artifact(built, tmp_path, capsys):
    copy = _copy(built, tmp_path)
    (copy / "tables" / "T03_satisfaction_by_cause.csv").unlink()
    assert main(["verify", "--built", str(copy)]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^missing\s+tables/T03_satisfaction_by_cause\.csv", out, re.M)
    assert "0 differs, 1 missing" in out


def test_verify_built_catches_a_file_slipped_into_an_owned_folder(built, tmp_path, capsys):
    copy = _copy(built, tmp_path)
    (copy / "fit" / "extra.csv").write_text("a\n1\n", encoding="utf-8")
    assert main(["verify", "--built", str(copy)]) == 1
    assert re.search(r"^extra\s+fit/extra\.csv", capsys.readouterr().out, re.M)


def test_verify_built_accepts_an_untouched_copy(built, tmp_path, capsys):
    copy = _copy(built, tmp_path)
    assert main(["verify", "--built", str(copy)]) == 0
    assert "0 differs, 0 missing, 0 extra" in capsys.readouterr().out


def test_verify_built_of_a_folder_without_manifest_exits_2(tmp_path, capsys):
    assert main(["verify", "--built", str(tmp_path)]) == 2
    assert "no manifest" in _one_error_line(capsys.readouterr().err, "verify")


# --- malformed and hostile manifests ---------------------------------------------------------------------

def _valid_manifest() -> dict:
    return json.loads((paths.project_root() / "paper" / "manifest.json").read_text(encoding="utf-8"))


def _with(change) -> dict:
    m = _valid_manifest()
    change(m)
    return m


HOSTILE = {
    "not_json": (b"{ this is not json", "not valid JSON"),
    "json_list": (b"[1, 2, 3]", "a JSON object is expected, found a JSON array"),
    "json_string": (b'"manifest"', "a JSON object is expected"),
    "not_utf8": (b"\xff\xfe\x00garbage", "not UTF-8"),
    "deeply_nested": (b"[" * 100_000 + b"]" * 100_000, "not a manifest"),
    "missing_inputs": (lambda m: m.pop("inputs"), "key 'inputs': missing"),
    "missing_artifact_sha": (lambda m: m["artifacts"][0].pop("sha256"), "key 'artifacts[0].sha256': missing"),
    "inputs_not_a_list": (lambda m: m.__setitem__("inputs", "data/raw/survey_sample.csv"),
                          "key 'inputs': must be a list"),
    "schema_wrong_type": (lambda m: m.__setitem__("schema", "1"), "key 'schema': must be the number 1"),
    "compare_not_bool": (lambda m: m["artifacts"][0].__setitem__("compare", "yes"),
                         "key 'artifacts[0].compare': must be true or false"),
    "sha_not_hex": (lambda m: m["inputs"][0].__setitem__("sha256", "z" * 64), "key 'inputs[0].sha256'"),
    "unknown_role": (lambda m: m["inputs"][0].__setitem__("role", "secrets"), "key 'inputs[0].role'"),
    "input_dotdot": (lambda m: m["inputs"][0].__setitem__("path", "../../etc/passwd"),
                     "key 'inputs[0].path': goes up with '..'"),
    "input_absolute": (lambda m: m["inputs"][0].__setitem__("path", "/etc/passwd"),
                       "key 'inputs[0].path': is an absolute path"),
    "input_windows_drive": (lambda m: m["inputs"][0].__setitem__("path", "C:\\Windows\\win.ini"),
                            "key 'inputs[0].path': is an absolute path"),
    "artifact_dotdot": (lambda m: m["artifacts"][0].__setitem__("path", "fit/../../../.bashrc"),
                        "key 'artifacts[0].path': goes up with '..'"),
    "instrument_key_path": (lambda m: m["instrument"].__setitem__("../x.yaml", "0" * 64),
                            "key 'instrument (entry"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_malformed_manifest_exits_2_with_one_message(tmp_path, capsys, monkeypatch, case):
    content, message = HOSTILE[case]
    path = tmp_path / "manifest.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        write_manifest(_with(content), path)
    monkeypatch.setattr("research.pipeline.reproduce.reproduce", _no_rebuild)
    assert main(["verify", "--manifest", str(path)]) == 2
    line = _one_error_line(capsys.readouterr().err, "verify")
    assert str(path) in line and message in line
    assert "/etc/passwd" not in line and "win.ini" not in line  # the value itself is never quoted


def _no_rebuild(*args, **kwargs):
    raise AssertionError("verify rebuilt from a manifest it should have refused")


def test_a_manifest_plan_pointing_at_a_hostile_yaml_is_refused_unloaded(tmp_path):
    pwned = tmp_path / "pwned"
    hostile = tmp_path / "plan.yaml"
    hostile.write_text(f"!!python/object/apply:os.system ['touch {pwned}']\n", encoding="utf-8")
    m = _valid_manifest()
    m["plan"]["path"] = str(hostile)
    path = tmp_path / "manifest.json"
    write_manifest(m, path)
    proc = subprocess.run([*CLI, "verify", "--manifest", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "key 'plan.path': is an absolute path" in _one_error_line(proc.stderr, "verify")
    assert not pwned.exists()


def test_verify_never_loads_the_plan_a_manifest_names(tmp_path, monkeypatch):
    # a relative path inside the project that is not a plan: were it loaded, load_plan would fail
    m = _valid_manifest()
    m["plan"]["path"] = "data/raw/survey_sample.csv"
    path = tmp_path / "manifest.json"
    write_manifest(m, path)
    used = {}

    def fake_reproduce(survey, workorders, out, *, progress=None, plan_path=None, reps=None, dataset=None,
                       engine=None):
        used["plan"] = plan_path
        return _valid_manifest()

    monkeypatch.setattr("research.pipeline.reproduce.reproduce", fake_reproduce)
    ok, rows = verify(path)
    assert used["plan"] == paths.project_root() / "paper" / "analysis_plan.yaml"
    assert ok and ("input:paper/analysis_plan.yaml", "match", "plan") in rows
    # a plan given on the command line is used, and its sha256 checked against the manifest's
    other = tmp_path / "other_plan.yaml"
    other.write_text((paths.project_root() / "paper" / "analysis_plan.yaml").read_text(encoding="utf-8")
                     + "# changed\n", encoding="utf-8")
    ok, rows = verify(path, plan_path=other)
    assert used["plan"] == other
    assert not ok and [r[1] for r in rows if r[2] == "plan"] == ["differs"]


def test_verify_built_refuses_an_artifact_path_leaving_the_folder(built, tmp_path, capsys):
    copy = _copy(built, tmp_path)
    m = load_manifest(copy / "manifest.json", paths_in_project=False)
    m["artifacts"][0]["path"] = "../../../etc/passwd"
    write_manifest(m, copy / "manifest.json")
    assert main(["verify", "--built", str(copy)]) == 2
    assert "goes up with '..'" in _one_error_line(capsys.readouterr().err, "verify")


def test_verify_built_reports_a_symlink_leaving_the_folder_as_a_difference(built, tmp_path, capsys):
    copy = _copy(built, tmp_path)
    secret = tmp_path / "secret.csv"
    secret.write_text("x\n", encoding="utf-8")
    target = copy / "fit" / "estimates.csv"
    target.unlink()
    target.symlink_to(secret)
    assert main(["verify", "--built", str(copy)]) == 1
    assert re.search(r"^differs\s+fit/estimates\.csv\s+leads outside", capsys.readouterr().out, re.M)


def test_verify_built_with_manifest_or_plan_is_a_usage_error(tmp_path, capsys):
    assert main(["verify", "--built", str(tmp_path), "--plan", "x.yaml"]) == 2
    assert "do not apply" in _one_error_line(capsys.readouterr().err, "verify")


# --- atomic writers keep the bytes ---------------------------------------------------------------------

def test_atomic_writers_leave_no_temporary_file_and_no_formula_cell(built):
    import csv

    from research.safeio import FORMULA_START

    root, manifest = built
    assert [p for p in root.rglob("*") if p.name.endswith(".part")] == []
    for rel in ["values.csv", *(a["path"] for a in manifest["artifacts"] if a["path"].startswith("strategy/"))]:
        with open(root / rel, encoding="utf-8-sig", newline="") as fh:
            cells = [c for row in csv.reader(fh) for c in row]
        assert not [c for c in cells if c.startswith(FORMULA_START) and not _number(c)], rel
    values = pd.read_csv(root / "values.csv", dtype=str, keep_default_na=False)
    from research.artifacts.values_format import TEXT_UNITS

    numeric = values[~values["unit"].isin(TEXT_UNITS) & (values["value"] != "")]
    pd.to_numeric(numeric["value"])  # numbers (negative ones too) are never given the text prefix
    assert (numeric["value"].str.startswith("-")).any()  # the sample has a negative shift to check


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_safeio_prefixes_text_but_not_numbers_in_a_mixed_column():
    from research.safeio import csv_text

    frame = pd.DataFrame({"value": [-0.25, "-cmd", "rake"], "zh": ["-1.5 个百分点", "=1+1", "ok"]})
    assert csv_text(frame).splitlines()[1:] == ["-0.25,'-1.5 个百分点", "'-cmd,'=1+1", "rake,ok"]


# --- hostile names through every output (issue 10, points 4 and 5) ---------------------------------

def _file_text(path: Path) -> str | None:
    """The text a reader of ``path`` could see: XML parts of a DOCX, cells of a Parquet, else the
    decoded bytes; None for images (raster pixels carry no text)."""
    import zipfile

    if path.suffix == ".png":
        return None
    if path.suffix == ".docx":
        with zipfile.ZipFile(path) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith(".xml"))
    if path.suffix == ".parquet":
        return pd.read_parquet(path).astype(str).to_csv(index=False)
    return path.read_bytes().decode("utf-8", "replace")


def _live_markup(page: str) -> list[str]:
    """Script elements, event-handler attributes and javascript: URLs that a browser would run."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Scan(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag in ("script", "iframe", "object", "embed"):
                found.append(tag)
            for name, value in attrs:
                if name.startswith("on"):
                    found.append(f"{tag}.{name}")
                if name in ("href", "src") and (value or "").strip().lower().startswith("javascript:"):
                    found.append(f"{tag}.{name}=javascript:")

    Scan().feed(page)
    return found


@pytest.fixture(scope="module")
def bulletins(built, tmp_path_factory) -> Path:
    """Week and month bulletins (zh and en) from the hostile build's ingest folder."""
    from research.bulletin import run_bulletin

    root, _ = built
    responses = pd.read_parquet(root / "ingest" / "responses.parquet")
    at = responses["surveyed_at"].quantile(0.5).date().isoformat()
    out = tmp_path_factory.mktemp("bulletin")
    for period in ("week", "month"):
        for lang in ("zh", "en"):
            run_bulletin(root / "ingest", period=period, at=at, out=out, lang=lang)
    return out


def test_hostile_names_reach_no_output_as_personal_data_markup_or_formula(built, bulletins, exports):
    import csv
    import io

    from research.safeio import FORMULA_START

    root, _ = built
    clear = set()
    for role in ("survey", "workorders"):
        raw = read_export(exports[role]).frame  # the work orders are GB18030, as real exports often are
        clear |= set(raw["客户编号"]) | set(raw["联系电话"])
    files = [p for p in (*root.rglob("*"), *bulletins.rglob("*")) if p.is_file()]
    assert len(files) > 100
    region_seen = False
    for path in files:
        text = _file_text(path)
        if text is None:
            continue
        where = path.name
        for number in PLANTED_NUMBERS:
            assert number not in text, f"{where}: planted personal number in clear"
        leaked = set(re.findall(r"(?<!\d)\d{10,11}(?!\d)", text)) & clear
        assert not leaked, f"{where}: {len(leaked)} customer ids or phones in clear"
        if path.suffix in (".html", ".md"):
            assert _live_markup(text) == [], f"{where}: live markup from data"
        if path.suffix == ".md":
            assert "<script" not in text.lower() and "<img" not in text.lower(), where
        if path.suffix == ".csv":
            cells = [c for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for c in row]
            bad = [c for c in cells if c.startswith(FORMULA_START) and not _number(c)]
            assert bad == [], f"{where}: formula-like cells {bad[:3]}"
            region_seen |= any(c.startswith("'=HYPERLINK") for c in cells)
    assert region_seen, "the hostile region should appear (neutralised) in some CSV"


_KILLED_WITH_WORKER = textwrap.dedent("""
    import os, signal, sys, time
    from research.pipeline import buildstate
    with buildstate.build_lock(sys.argv[1]):
        pid = os.fork()
        if pid == 0:  # the rendering worker
            if sys.argv[2] == "forget":
                buildstate.forget_locks_in_child()
            print(os.getpid(), flush=True)
            os.close(1)
            os.close(2)  # let the test read the parent's end without waiting for this worker
            time.sleep(20)
            os._exit(0)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)  # the run is killed while its worker lives
""")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork: POSIX only")
@pytest.mark.parametrize("worker", ["forget", "keep"])
def test_a_worker_outliving_a_killed_run_does_not_hold_the_lock(tmp_path, worker):
    # reproduce draws tables and figures in forked workers; flock belongs to the open file, which a
    # fork shares, so a worker that outlived a killed parent kept the folder locked (seen in CI:
    # "'research reproduce' (pid ...) is building into this folder"). Workers close their copy at
    # start (buildstate.forget_locks_in_child); "keep" shows the failure the fix prevents.
    proc = subprocess.run([sys.executable, "-c", _KILLED_WITH_WORKER, str(tmp_path), worker],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    child = int(proc.stdout.split()[0])
    try:
        if worker == "forget":
            with buildstate.build_lock(tmp_path):
                pass
        else:
            with pytest.raises(InputError, match="is building into this folder"):
                with buildstate.build_lock(tmp_path):
                    pass
    finally:
        os.kill(child, signal.SIGKILL)


def test_an_ingest_output_edited_by_hand_is_refused_before_any_model(tmp_path, capsys):
    """responses.parquet written by something else than ingest: an answer outside its scale made
    `research fit` fail with an internal IndexError (the ordinal model indexes the scale by it),
    and one station for every respondent made `research weight` fail with a ValueError (on the
    sample; found by fuzzing). Both are now an InputError naming the file or the column."""
    import pandas as pd

    from research.ingestion.run import ingest, write_ingest

    survey = valid_survey(40)
    write_csv(survey, tmp_path / "s.csv", "utf-8-sig")
    write_csv(workorders_for(survey), tmp_path / "w.csv", "gb18030")
    out = tmp_path / "ing"
    write_ingest(ingest(tmp_path / "s.csv", tmp_path / "w.csv"), out)
    responses = pd.read_parquet(out / "responses.parquet")
    edited = responses.copy()
    edited.loc[edited.index[3], "sat_overall"] = 99
    edited.to_parquet(out / "responses.parquet", index=False)
    with pytest.raises(InputError, match=r"'sat_overall' .* 1 value\(s\) outside its scale \[1, 2, 3, 4, 5\] "
                                         r"\(first at row 4\)"):
        read_ingested(out / "responses.parquet", "responses")
    assert main(["fit", "--data", str(out / "responses.parquet"), "--out", str(tmp_path / "fit")]) == 2
    assert "outside its scale" in _one_error_line(capsys.readouterr().err, "fit")
    pd.concat([responses, responses.iloc[[5]]]).to_parquet(out / "responses.parquet", index=False)
    with pytest.raises(InputError, match=r"1 ticket_id value\(s\) .* more than once \(first repeat at row 41\)"):
        read_ingested(out / "responses.parquet", "responses")

    # (the 40 rows are too few for the propensity model; the design's check is the estimates' own)
    import numpy as np

    from research.config.plan import load_plan
    from research.representativeness.run import respondent_frame, rows_weighted_estimates

    spec = load_plan().weighting
    one = respondent_frame(responses.assign(station=responses["station"].iloc[0]), spec)
    with pytest.raises(InputError, match="every respondent is in one station; design-based standard "
                                         "errors need at least 2 clusters"):
        rows_weighted_estimates(one, np.ones(len(one)), spec, 0.95)
