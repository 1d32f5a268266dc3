"""Golden test: the reports rendered from the paper's own numbers (results/paper) are byte-identical to the committed
output in tests/fixtures/golden/paper. A deliberate change of the report regenerates the fixtures with

    python run_matrix.py --report-only --results results/paper --out tests/fixtures/golden/paper
"""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main as cli_main

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "fixtures" / "golden" / "paper"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("golden")
    assert cli_main(["--report-only", "--results", str(REPO / "results" / "paper"), "--out", str(out)]) == 0
    return out


def test_the_same_files_are_rendered(rendered):
    assert sorted(p.name for p in rendered.iterdir()) == sorted(p.name for p in GOLDEN.iterdir())


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.iterdir()))
def test_paper_report_is_byte_identical_to_the_golden_file(rendered, name):
    assert (rendered / name).read_bytes() == (GOLDEN / name).read_bytes(), (
        f"{name} differs from tests/fixtures/golden/paper/{name}; if the change is deliberate, regenerate the "
        f"fixtures (see this module's docstring)")
