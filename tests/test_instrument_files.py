"""The manifest records every instrument file a build depends on (research.paths.instrument_files):
the YAML files and, since the typical-case analysis (issue 14), the segmentation dictionaries
surveys/terms.txt and surveys/stopwords.txt, whose words change T23, F12 and the bulletin's B09."""

from research import paths


def test_instrument_files_include_the_segmentation_dictionaries():
    names = [p.name for p in paths.instrument_files()]
    assert "terms.txt" in names and "stopwords.txt" in names
    assert "fields.yaml" in names
    assert names == sorted(names)


def test_a_changed_dictionary_changes_the_recorded_instrument(tmp_path, monkeypatch):
    from research.artifacts.manifest import sha256_file

    for p in paths.instrument_files():
        (tmp_path / p.name).write_bytes(p.read_bytes())
    monkeypatch.setattr(paths, "surveys_dir", lambda: tmp_path)
    before = {p.name: sha256_file(p) for p in paths.instrument_files()}
    with open(tmp_path / "terms.txt", "a", encoding="utf-8") as f:
        f.write("\n表前开关 5 n\n")
    after = {p.name: sha256_file(p) for p in paths.instrument_files()}
    assert [n for n in before if before[n] != after[n]] == ["terms.txt"]
