"""Energy and CO2 per run (harness.runner.energy, Table S7): RAPL counters read with their wrap-around, the stated
TDP estimate where they cannot be read, codecarbon's offline tracker, kWh x PUE and CO2 = kWh x the factor in every
results row with the method that produced them, a failing meter that costs the run nothing, and the measured
Table S7 rendered beside the paper's."""

from __future__ import annotations

import math
import os
import sys

import pandas as pd
import pytest
from cell_fakes import install, run_config, step_records

from harness.config import EnergySettings
from harness.errors import UsageError
from harness.report.tables import build_reports
from harness.runner import energy
from harness.runner.cell import execute_cell
from harness.runner.energy import (
    JOULES_PER_KWH,
    CounterMeter,
    EnergyReading,
    TrainingEnergy,
    check_energy,
    energy_columns,
    rapl_zones,
)
from harness.store.results import read_results

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _zone(root, name: str, energy_uj: int, max_uj: int = 2**32) -> None:
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")


def test_rapl_counters_sum_packages_skip_subzones_and_survive_a_wrap(tmp_path):
    _zone(tmp_path, "intel-rapl:0", 1_000_000)
    _zone(tmp_path, "intel-rapl:0:0", 5)  # a part (core) of package 0: never added again
    _zone(tmp_path, "intel-rapl:1", 2**32 - 500_000)  # about to wrap
    assert [z.name for z in rapl_zones(tmp_path)] == ["intel-rapl:0", "intel-rapl:1"]
    meter = CounterMeter(cpu_tdp_w=85.0, gpus=False, powercap=tmp_path)
    meter.start()
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("4000000")
    (tmp_path / "intel-rapl:1" / "energy_uj").write_text("1500000")  # wrapped: 0.5 J before, 1.5 J after
    reading = meter.stop()
    assert reading.method == "rapl" and reading.joules == pytest.approx(3.0 + 2.0)


def test_unreadable_rapl_falls_back_to_the_stated_tdp_estimate(tmp_path, monkeypatch):
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "energy_uj").mkdir()  # reading it fails, as a root-only counter does
    assert rapl_zones(tmp_path) == []
    cpu = iter([10.0, 18.0])
    monkeypatch.setattr(energy, "_cpu_seconds", lambda: next(cpu))
    meter = CounterMeter(cpu_tdp_w=100.0, gpus=False, powercap=tmp_path)
    meter.start()
    reading = meter.stop()
    # 8 CPU-seconds of a machine with os.cpu_count() cores at 100 W for all of them
    assert reading.method == "tdp-estimate" and reading.joules == pytest.approx(100.0 * 8.0 / os.cpu_count())


class FakeNvml:
    """pynvml's calls the counters use: GPU 0 has an energy counter (mJ), GPU 1 has none (pre-Volta)."""

    class NVMLError(Exception):
        pass

    def __init__(self) -> None:
        self.energy_mj = {0: 1_000_000}

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        pass

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if handle not in self.energy_mj:
            raise self.NVMLError("not supported")
        return self.energy_mj[handle]

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        return 300_000  # mW


@pytest.mark.parametrize("visible,expect", [(None, "rapl+gpu-tdp-estimate"), ("0", "rapl+nvml")])
def test_gpu_energy_from_nvml_counters_or_the_power_limit(tmp_path, monkeypatch, visible, expect):
    nvml = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    _zone(tmp_path, "intel-rapl:0", 0)
    meter = CounterMeter(cpu_tdp_w=85.0, gpus=True, powercap=tmp_path)
    meter.start()
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("2000000")
    nvml.energy_mj[0] += 7_000  # 7 J on GPU 0
    reading = meter.stop()
    gpu1 = 300.0 * reading.seconds if visible is None else 0.0  # GPU 1: its 300 W limit x the time
    assert reading.method == expect and reading.joules == pytest.approx(2.0 + 7.0 + gpu1)


def test_kwh_include_the_pue_and_co2_follows_the_factor():
    settings = EnergySettings(co2_kg_per_kwh=0.05, pue=1.2)
    cols = energy_columns(EnergyReading(JOULES_PER_KWH * 2, 60.0, "rapl+nvml"), settings, steps=10, resumed_from=0)
    assert cols == {
        "energy_kwh": pytest.approx(2.4),
        "co2_kg": pytest.approx(2.4 * 0.05),
        "co2_kg_per_kwh": 0.05,
        "pue": 1.2,
        "energy_method": "rapl+nvml",
    }


def test_a_resumed_run_extrapolates_its_measured_steps_and_says_so():
    reading = EnergyReading(JOULES_PER_KWH, 60.0, "rapl")
    cols = energy_columns(reading, EnergySettings(pue=1.0), steps=10, resumed_from=6)
    assert (
        cols["energy_kwh"] == pytest.approx(10 / 4) and cols["energy_method"] == "rapl (extrapolated from steps 7-10)"
    )
    done = energy_columns(reading, EnergySettings(), steps=10, resumed_from=10)
    assert "energy_kwh" not in done and done["energy_method"].startswith("unavailable")


def test_a_failing_meter_costs_the_run_only_its_energy(capsys):
    class Broken:
        def start(self):
            raise PermissionError("no counter")

    measure = TrainingEnergy(EnergySettings(meter="counters"), on_gpu=False)
    measure.meter = Broken()
    measure.start()
    assert measure.stop(steps=4, resumed_from=0) == {"energy_method": "unavailable (PermissionError: no counter)"}
    assert "energy not measured" in capsys.readouterr().err
    assert TrainingEnergy(EnergySettings(meter="off"), on_gpu=False).stop(4, 0) == {"energy_method": ""}


def test_a_failed_training_stops_its_meter(tmp_path, monkeypatch):
    stopped = []

    class Meter:
        def start(self):
            pass

        def stop(self):
            stopped.append(True)
            return EnergyReading(1.0, 1.0, "rapl")

    from harness.runner import cell as cell_module

    install(monkeypatch, step_records(2))
    monkeypatch.setattr(energy, "open_meter", lambda settings, on_gpu: Meter())

    def diverge(*a):
        raise RuntimeError("diverged")

    monkeypatch.setattr(cell_module, "_train", diverge)
    outcome = execute_cell(run_config(), tmp_path / "runs", tmp_path / "results")
    assert outcome.status == "failed" and stopped == [True]
    row = read_results([tmp_path / "results"]).iloc[0]
    assert math.isnan(row.energy_kwh) and row.energy_method == ""


def test_codecarbon_offline_tracker_measures_and_names_its_sources():
    pytest.importorskip("codecarbon")
    meter = energy.CodecarbonMeter()
    meter.start()
    sum(i * i for i in range(300_000))
    reading = meter.stop()
    assert reading.joules > 0 and reading.seconds > 0
    assert reading.method.startswith("codecarbon:") and "unknown" not in reading.method


@pytest.mark.parametrize(
    "settings,match",
    [
        (EnergySettings(co2_kg_per_kwh=-1.0), "co2_kg_per_kwh"),
        (EnergySettings(pue=0.9), "pue"),
        (EnergySettings(cpu_tdp_w=math.inf), "cpu_tdp_w"),
    ],
)
def test_bad_energy_settings_are_usage_errors(settings, match):
    with pytest.raises(UsageError, match=match):
        check_energy(settings)


def test_codecarbon_meter_without_the_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "codecarbon", None)
    with pytest.raises(UsageError, match=r"depalm-bench\[energy\]"):
        check_energy(EnergySettings(meter="codecarbon"))
    assert isinstance(energy.open_meter(EnergySettings(), on_gpu=False), CounterMeter)  # auto: the counters


def test_energy_settings_do_not_change_the_config_hash():
    assert run_config(energy=EnergySettings(co2_kg_per_kwh=0.05, meter="off")).config_hash() == (
        run_config().config_hash()
    )


@pytest.fixture
def measured_results(tmp_path, monkeypatch):
    """Two seeds of a cell whose training the counter meter measures through a stand-in RAPL tree."""
    powercap = tmp_path / "powercap"
    _zone(powercap, "intel-rapl:0", 0)
    counter = iter([0, 36_000_000, 0, 72_000_000])  # 36 J, then 72 J (each start reads 0)

    def read(path):
        return next(counter) if path.name == "energy_uj" else 2**40

    monkeypatch.setattr(energy, "POWERCAP", powercap)
    monkeypatch.setattr(energy, "_read_int", read)
    install(monkeypatch, step_records(4))
    settings = EnergySettings(meter="counters", co2_kg_per_kwh=0.1, pue=1.0)
    for seed in (0, 1):
        cfg = run_config(seed=seed, energy=settings)
        assert execute_cell(cfg, tmp_path / "runs", tmp_path / "results").status == "ok"
    return read_results([tmp_path / "results"])


def test_every_row_of_a_run_records_its_energy_method_and_co2(measured_results):
    rows = measured_results
    assert set(rows.metric) == {"CIDEr", "BLEU_4"} and len(rows) == 4
    assert (rows.energy_method == "rapl").all()
    by_seed = rows.groupby("seed").energy_kwh.agg(["min", "max"])
    assert (by_seed["min"] == by_seed["max"]).all()  # the same number on each metric row of a run
    assert sorted(by_seed["min"]) == pytest.approx([36 / JOULES_PER_KWH, 72 / JOULES_PER_KWH])
    assert rows.co2_kg.to_numpy() == pytest.approx(rows.energy_kwh.to_numpy() * 0.1)
    assert (rows.co2_kg_per_kwh == 0.1).all() and (rows.pue == 1.0).all()


def test_table_s7_shows_the_measured_runs_beside_the_papers(measured_results):
    paper = read_results([os.path.join(REPO, "results", "paper", "paper-tableS7.parquet")])
    reports = {r.name: r for r in build_reports(pd.concat([paper, measured_results], ignore_index=True))}
    s7 = reports["tableS7"]
    assert s7.parts[0].key == "paper" and len(s7.parts) == 2
    text = s7.parts[1].tables[0].text
    assert list(text.index) == ["DePALM"]
    kwh = text.iloc[0, 1]  # (COCO [offline], kWh): the mean of 36 J and 72 J ± their standard deviation
    assert kwh == f"{54 / JOULES_PER_KWH:.2g} ± {math.sqrt(2 * 18**2) / JOULES_PER_KWH:.2g}"
    assert text.iloc[0, 2] == f"{54 / JOULES_PER_KWH * 0.1:.2g}"
    assert any("rapl (2 runs)" in str(n) for n in s7.parts[1].notes)
    measured = s7.csv[s7.csv.note.str.startswith("this study")]
    assert set(measured.metric) == {"train_time_s", "energy_kwh", "co2_kg"} and (measured.n_seeds == 2).all()
    assert len(s7.csv) - len(measured) == len(paper)  # the paper's rows, unchanged


def test_table_s7_without_measured_runs_is_the_papers_alone():
    paper = read_results([os.path.join(REPO, "results", "paper", "paper-tableS7.parquet")])
    (s7,) = [r for r in build_reports(paper) if r.name == "tableS7"]
    assert [p.key for p in s7.parts] == ["paper"] and s7.title.endswith("(published numbers)")


def test_table_s7_from_runs_alone(measured_results):
    (s7,) = [r for r in build_reports(measured_results) if r.name == "tableS7"]
    assert s7.title.endswith("measured by this study's runs") and [p.title for p in s7.parts] == [
        "This study: Runs, profile smoke, variant official"
    ]
    assert set(s7.csv.metric) == {"train_time_s", "energy_kwh", "co2_kg"}
