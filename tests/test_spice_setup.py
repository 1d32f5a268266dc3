"""SPICE/SPIDEr: one probe for `--doctor` and the scorer, SPIDEr through aac-metrics when usable, the CoreNLP
installer. Java and aac-metrics are stood in for at their boundaries (the `java` executable, the `spider` call);
the real SPICE run is tested where the jars and a Java 8-15 exist."""

import json
import shutil
import subprocess
import sys
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest

from benchmarks.metrics import spice_setup
from benchmarks.metrics.caption import caption_scores, score_captions
from harness import doctor

REPO = Path(__file__).resolve().parents[1]
PREDS = {"1": "a dog running on the beach", "2": "a red bus on a street", "3": "two cats on a couch"}
REFS = {
    "1": ["a dog runs on the beach", "a brown dog running on sand"],
    "2": ["a red bus on a city street", "a bus driving down the road"],
    "3": ["two cats sleeping on a couch", "a pair of cats napping"],
}
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="pycocoevalcap's PTB tokenizer needs Java")


def _fake_java(folder: Path, version: str, score: float = 0.5) -> str:
    """A `java` stand-in: prints a version, or plays spice-1.0.jar (one F-score per item) after checking that it
    is run from a folder where the jar finds lib/ with the CoreNLP jars."""
    script = folder / f"java-{version}"
    script.write_text(f"""#!{sys.executable}
import json, os, sys
args = sys.argv[1:]
if args == ["-version"]:
    sys.stderr.write('openjdk version "{version}" 2021-01-19\\n'); sys.exit(0)
assert args[:2] == ["-jar", "-Xmx8G"] and os.path.basename(args[2]) == "spice-1.0.jar", args
home = os.path.dirname(os.path.abspath(args[2]))  # the manifest's lib/ is relative to the jar's path
assert os.path.isfile(args[2]), args[2]
for jar in {list(spice_setup.CORENLP_JARS)!r} + ["SceneGraphParser-1.0.jar"]:
    assert os.path.isfile(os.path.join(home, "lib", jar)), jar
items = json.load(open(args[3]))
assert all(isinstance(i["test"], str) and i["refs"] for i in items)
json.dump([{{"image_id": i["image_id"], "scores": {{"All": {{"f": {score}, "pr": 0, "re": 0}}}}}} for i in items],
          open(args[args.index("-out") + 1], "w"))
""")
    script.chmod(0o755)
    return str(script)


def _stand_in_jars(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for jar in spice_setup.CORENLP_JARS:
        with zipfile.ZipFile(folder / jar, "w") as z:
            z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
    return folder


def _stand_in_aac_metrics(root: Path, spider: float = 0.31, spice: float = 0.2) -> Path:
    """An importable `aac_metrics` whose functional `spider` checks its arguments as aac-metrics does (the SPICE
    layout under cache_path, the Java) and logs the call."""
    pkg = root / "aac_metrics" / "functional"
    pkg.mkdir(parents=True)
    (root / "aac_metrics" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "spider.py").write_text(f"""
import json, os, subprocess
def spider(candidates, mult_references, return_all_scores=True, *, cache_path=None, java_path=None, tmp_path=None,
           **kwargs):
    home = os.path.join(cache_path, "aac-metrics", "spice")
    assert os.path.isfile(os.path.join(home, "spice-1.0.jar")) and os.path.isdir(os.path.join(home, "cache"))
    for jar in {list(spice_setup.CORENLP_JARS)!r}:
        assert os.path.isfile(os.path.join(home, "lib", jar)), jar
    assert "version" in subprocess.run([java_path, "-version"], capture_output=True, text=True).stderr
    with open({str(root / "calls.jsonl")!r}, "a") as f:
        f.write(json.dumps({{"candidates": candidates, "refs": mult_references, "java": java_path}}) + "\\n")
    return {{"spider": {spider}, "spice": {spice}, "cider_d": 2 * {spider} - {spice}}}, {{}}
""")
    dist = root / "aac_metrics-0.6.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: aac-metrics\nVersion: 0.6.0\n")
    return root


def _setup(monkeypatch, tmp_path, *, jars: bool, java: str | None, aac: bool) -> None:
    lib = tmp_path / "corenlp"
    _stand_in_jars(lib) if jars else lib.mkdir()
    monkeypatch.setenv(spice_setup.CORENLP_DIR_ENV, str(lib))
    if java is None:
        monkeypatch.setattr(spice_setup, "_java_candidates", lambda: [])
    else:
        java_path = _fake_java(tmp_path, java)
        monkeypatch.setattr(spice_setup, "_java_candidates", lambda: [java_path])
    if aac:
        for name in [m for m in sys.modules if m.split(".")[0] == "aac_metrics"]:
            monkeypatch.delitem(sys.modules, name)  # an earlier test's stand-in
        monkeypatch.syspath_prepend(str(_stand_in_aac_metrics(tmp_path / "site")))
    else:
        real = spice_setup.importlib.util.find_spec
        monkeypatch.setattr(
            spice_setup.importlib.util, "find_spec", lambda name: None if name == "aac_metrics" else real(name)
        )


def test_java_version_parsing(tmp_path):
    assert spice_setup.java_version(_fake_java(tmp_path, "1.8.0_292")) == 8
    assert spice_setup.java_version(_fake_java(tmp_path, "17.0.15")) == 17
    assert spice_setup.java_version(str(tmp_path / "no-java")) is None


def test_missing_jars_named_with_folder_and_installer(monkeypatch, tmp_path):
    _setup(monkeypatch, tmp_path, jars=False, java="11.0.13", aac=False)
    status = spice_setup.probe()
    assert not status.spice_ok and str(tmp_path / "corenlp") in status.missing
    assert all(j in status.missing for j in spice_setup.CORENLP_JARS)
    assert spice_setup.INSTALLER in status.fix and spice_setup.CORENLP_URL in status.fix


def test_default_folder_is_pycocoevalcaps_lib(monkeypatch):
    monkeypatch.delenv(spice_setup.CORENLP_DIR_ENV, raising=False)
    assert spice_setup.corenlp_dir() == spice_setup.pycocoevalcap_dir() / "spice" / "lib"


SCENARIOS = {
    "no jars": dict(jars=False, java="11.0.13", aac=True),
    "java 17 only": dict(jars=True, java="17.0.15", aac=False),
    "no java": dict(jars=True, java=None, aac=False),
    "jars + java 11": dict(jars=True, java="11.0.13", aac=False),
    "jars + java 11 + aac-metrics": dict(jars=True, java="11.0.13", aac=True),
    "jars + java 15 + aac-metrics": dict(jars=True, java="15.0.2", aac=True),
}


@needs_java
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_doctor_and_scorer_agree(monkeypatch, tmp_path, scenario):
    _setup(monkeypatch, tmp_path, **SCENARIOS[scenario])
    lines = doctor.check_spice()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = caption_scores(PREDS, REFS, ("CIDEr", "SPICE", "SPIDEr"))
    spice_line = lines[0]
    assert spice_line.ok == ("SPICE" in scores.corpus) == ("SPIDEr" in scores.corpus), scenario
    if spice_line.ok:
        assert lines[1].name == "SPIDEr" and not scores.skipped
        by_aac = lines[1].detail.startswith("computed by aac-metrics")
        assert by_aac == (scenario == "jars + java 11 + aac-metrics")
        calls = tmp_path / "site" / "calls.jsonl"
        assert calls.exists() == by_aac  # the doctor's implementation is the one the scorer called
        if by_aac:
            assert scores.corpus["SPIDEr"] == pytest.approx(31.0) and scores.corpus["SPICE"] == pytest.approx(20.0)
            call = json.loads(calls.read_text())
            assert call["candidates"] == [PREDS[k] for k in PREDS] and call["java"].endswith("java-11.0.13")
        else:
            cider = scores.corpus["CIDEr"]
            assert scores.corpus["SPICE"] == pytest.approx(50.0)
            assert scores.corpus["SPIDEr"] == pytest.approx((cider + 50.0) / 2)
            if SCENARIOS[scenario]["aac"]:
                assert "accepts Java 8-13" in lines[1].detail
    else:
        assert not spice_line.required and spice_line.fix
        # the scorer's reason is the doctor's line: what is missing and the fix
        missing = spice_line.detail.removesuffix(" (SPICE/SPIDEr are skipped)")
        assert scores.skipped["SPIDEr"] == f"SPIDEr not computed: {missing}; {spice_line.fix}"
        assert any(scores.skipped["SPICE"] == str(w.message) for w in caught)


@needs_java
def test_audiocaps_nan_row_says_what_is_missing(monkeypatch, tmp_path):
    from benchmarks import get_benchmark
    from benchmarks.spec import Item

    _setup(monkeypatch, tmp_path, jars=False, java="11.0.13", aac=False)
    bench = get_benchmark("audiocaps")
    items = [Item(id=k, input_key=k, load_input=lambda: None, prompt="", targets=v) for k, v in REFS.items()]
    with pytest.warns(UserWarning, match="SPIDEr not computed"):
        scores = bench.score(PREDS, items, metrics=("CIDEr", "SPIDEr"))
    assert scores.corpus["SPIDEr"] != scores.corpus["SPIDEr"]  # NaN
    assert "stanford-corenlp-3.6.0.jar" in scores.notes["SPIDEr"] and spice_setup.INSTALLER in scores.notes["SPIDEr"]


@pytest.mark.skipif(not spice_setup.probe().spice_ok, reason="needs the CoreNLP 3.6.0 jars and a Java 8-15")
def test_real_spice_run():
    out = score_captions(PREDS, REFS, ("CIDEr", "SPICE", "SPIDEr"))
    assert 0 < out["SPICE"] <= 100 and out["SPIDEr"] == pytest.approx((out["CIDEr"] + out["SPICE"]) / 2, rel=0.05)


# ---------------------------------------------------------------------------------------------- installer


def _archive(tmp_path: Path, kind: str, names=spice_setup.CORENLP_JARS) -> Path:
    jars = _stand_in_jars(tmp_path / "src")
    if kind == "zip":
        path = tmp_path / spice_setup.CORENLP_ARCHIVE
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("stanford-corenlp-full-2015-12-09/README.txt", "CoreNLP")
            for name in names:
                z.write(jars / name, f"stanford-corenlp-full-2015-12-09/{name}")
    else:
        path = tmp_path / "corenlp.tar.gz"
        with tarfile.open(path, "w:gz") as t:
            for name in names:
                t.add(jars / name, f"corenlp/{name}")
    return path


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_installer_puts_jars_where_the_probe_looks(monkeypatch, tmp_path, kind):
    dest = tmp_path / "lib"
    monkeypatch.setenv(spice_setup.CORENLP_DIR_ENV, str(dest))
    assert spice_setup.probe().missing is not None
    installed = spice_setup.install_corenlp(_archive(tmp_path, kind))
    assert sorted(p.name for p in installed) == sorted(spice_setup.CORENLP_JARS)
    assert all((dest / j).is_file() for j in spice_setup.CORENLP_JARS)
    assert "missing from" not in (spice_setup.probe().missing or "")  # the jars are found (Java is another matter)


def test_installer_script_refuses_incomplete_archives(monkeypatch, tmp_path):
    monkeypatch.setenv(spice_setup.CORENLP_DIR_ENV, str(tmp_path / "lib"))
    script = REPO / "scripts" / "install-corenlp.sh"
    run = lambda *a: subprocess.run([str(script), *a], capture_output=True, text=True, cwd=tmp_path)  # noqa: E731
    partial = _archive(tmp_path, "zip", names=spice_setup.CORENLP_JARS[:1])
    out = run(partial.name)  # a path relative to the caller's folder
    assert out.returncode == 2 and "stanford-corenlp-3.6.0-models.jar not in the archive" in out.stderr
    assert not (tmp_path / "lib" / spice_setup.CORENLP_JARS[0]).exists()  # nothing half-installed
    (tmp_path / "bad.zip").write_text("not an archive")
    out = run("bad.zip")
    assert out.returncode == 2 and "not a zip or tar archive" in out.stderr
    assert run().returncode == 2
    out = run(_archive(tmp_path, "zip").name, str(tmp_path / "elsewhere"))
    assert out.returncode == 0, out.stderr
    assert all((tmp_path / "elsewhere" / j).is_file() for j in spice_setup.CORENLP_JARS)
    assert f"export {spice_setup.CORENLP_DIR_ENV}=" in out.stdout


# ---------------------------------------------------------------------------------------------- AudioCaps columns


def _audiocaps_rows(tmp_path: Path, dataset: str, value: dict[str, float], notes: dict[str, str]) -> Path:
    """Rows of two methods on `dataset`, planned on the offline mirror (the real AudioCaps needs its data)."""
    import dataclasses

    from harness.cli import parse_study
    from harness.runner.cell import CellOutcome, result_rows
    from harness.runner.matrix import plan
    from harness.store.results import write_result

    results = tmp_path / "results"
    study = parse_study(
        ["--methods", "depalm,mapl", "--no-controls", "--datasets", "syn-audiocaps", "--profile", "smoke"]
        + ["--results", str(results)]
    )
    for cfg in plan(study).cells:
        cfg = dataclasses.replace(cfg, dataset=dataset)
        metric = next(iter(value))
        outcome = CellOutcome(cfg.run_id, "ok", metrics={"test": dict(value)}, config_hash=cfg.config_hash())
        rows = result_rows(cfg, outcome, {}, ("test", metric), {"test": notes})
        write_result(rows, results, cfg.run_id)
    return results


def test_audiocaps_column_footnotes_what_spice_lacked(tmp_path):
    from harness.report import render_reports
    from harness.store.results import read_results

    why = "SPIDEr not computed: stanford-corenlp-3.6.0.jar missing from /x; run `scripts/install-corenlp.sh ...`"
    results = _audiocaps_rows(tmp_path, "audiocaps", {"SPIDEr": float("nan"), "CIDEr": 40.0}, {"SPIDEr": why})
    rows = read_results([results])
    assert set(rows[rows.metric == "SPIDEr"].note) == {why} and set(rows[rows.metric == "CIDEr"].note) == {""}
    render_reports([results], tmp_path / "out")
    md = (tmp_path / "out" / "table4.md").read_text()
    assert why in md  # the NaN SPIDEr cells' footnote
    assert "SPIDEr: mean of CIDEr-D and SPICE, the audio-captioning metric" in md  # which metric, and why


def test_offline_audiocaps_mirror_says_why_it_shows_cider(tmp_path):
    from harness.report import render_reports

    results = _audiocaps_rows(tmp_path, "syn-audiocaps", {"CIDEr": 12.0}, {})
    render_reports([results], tmp_path / "out")
    md = (tmp_path / "out" / "table4.md").read_text()
    assert "shows CIDEr where the paper's AudioCaps column shows SPIDEr: SPICE, half of SPIDEr, needs" in md


@needs_java
def test_a_run_without_spice_stores_a_nan_spider_row_saying_why(monkeypatch, tmp_path):
    """The whole path, benchmark -> cell -> results row: the prior control (no model) on a SPIDEr-scored copy of
    the offline AudioCaps mirror."""
    import dataclasses

    from benchmarks import Benchmark, get_benchmark, registry
    from harness.cli import parse_study
    from harness.runner.cell import execute_cell
    from harness.runner.matrix import plan
    from harness.store.results import read_results

    _setup(monkeypatch, tmp_path, jars=False, java="11.0.13", aac=False)
    mirror = get_benchmark("syn-audiocaps")
    spec = dataclasses.replace(mirror.spec, id="syn-audiocaps-spider", primary_metric="SPIDEr")
    monkeypatch.setitem(registry._BENCHMARKS, spec.id, Benchmark(spec, mirror.source))
    study = parse_study(
        ["--methods", "prior", "--no-controls", "--datasets", spec.id, "--profile", "smoke"]
        + ["--results", str(tmp_path / "results")]
    )
    (cfg,) = plan(study).cells
    with pytest.warns(UserWarning, match="SPIDEr not computed"):
        outcome = execute_cell(cfg, tmp_path / "runs", tmp_path / "results")
    assert outcome.status == "ok", outcome.error
    rows = read_results([tmp_path / "results"])
    spider = rows[rows.metric == "SPIDEr"]
    assert len(spider) == 1 and spider.value.isna().all() and spider.status.tolist() == ["ok"]
    assert "stanford-corenlp-3.6.0-models.jar missing from" in spider.note.iloc[0]
    assert spice_setup.INSTALLER in spider.note.iloc[0]
