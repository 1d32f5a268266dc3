"""Energy and CO2 of a run's training, the measured counterpart of the paper's Table S7 (Appendix E: T x 8 GPUs x
250 W TDP x 1.1 PUE, 0.385 kg CO2 per kWh).

Meters (`EnergySettings.meter`): codecarbon's offline tracker (extra `energy`; RAPL or its CPU TDP table, NVML,
RAM), or the counters read directly: RAPL package counters under /sys/class/powercap where readable and NVML's
energy counter of every visible GPU (nvidia-ml-py); a CPU whose counters cannot be read is estimated as
`cpu_tdp_w` x the run's share of the CPU cores, a GPU without an energy counter as its power limit x the time.
The row records the method (`energy_method`), so an estimate never reads as a measurement. The energy is
multiplied by the PUE and converted with the configured kg CO2 / kWh factor (`energy_columns`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.config import EnergySettings
from harness.errors import UsageError

EXTRA = "energy"
POWERCAP = Path("/sys/class/powercap")
JOULES_PER_KWH = 3.6e6
OFF = EnergySettings(meter="off")  # the settings of a process that does not measure (a DDP rank other than 0)
# codecarbon's CPU power modes -> the names this project's rows use
_CODECARBON_CPU_MODES = {
    "intel_rapl": "rapl",
    "cpu_load": "tdp-estimate",
    "constant": "tdp-estimate",
    "intel_power_gadget": "power-gadget",
    "apple_powermetrics": "powermetrics",
}


def check_energy(settings: EnergySettings) -> None:
    """UsageErrors for a meter that cannot run and for factors out of range (before any cell)."""
    meters = ("auto", "codecarbon", "counters", "off")
    if settings.meter not in meters:
        raise UsageError(f"--energy.meter {settings.meter!r}: unknown meter; valid: {', '.join(meters)}")
    if settings.meter == "codecarbon" and importlib.util.find_spec("codecarbon") is None:
        raise UsageError(
            f"--energy.meter codecarbon: the codecarbon package is not installed; "
            f"pip install 'depalm-bench[{EXTRA}]' (or pass --energy.meter counters)"
        )
    for name in ("co2_kg_per_kwh", "cpu_tdp_w"):
        value = getattr(settings, name)
        if not (math.isfinite(value) and value >= 0):
            raise UsageError(f"--energy.{name} {value}: must be a finite number >= 0")
    if not (math.isfinite(settings.pue) and settings.pue >= 1):
        raise UsageError(f"--energy.pue {settings.pue}: must be >= 1 (1: no data-centre overhead)")


@dataclass(frozen=True)
class EnergyReading:
    joules: float  # what the machine's CPUs / GPUs drew (before the PUE)
    seconds: float
    method: str  # e.g. rapl+nvml, tdp-estimate, codecarbon:rapl+nvml+ram-estimate


class Meter(Protocol):
    def start(self) -> None: ...

    def stop(self) -> EnergyReading: ...


# ---- counters -----------------------------------------------------------------------------------------------


def rapl_zones(root: Path = POWERCAP) -> list[Path]:
    """The readable top-level RAPL zones (one per CPU package; their subzones are parts of them)."""
    zones = []
    for zone in sorted(root.glob("*-rapl:*")):
        if zone.name.count(":") != 1:
            continue
        try:
            int((zone / "energy_uj").read_text())
        except (OSError, ValueError):  # since 2020 kernels let only root read the counters: then none is used
            return []
        zones.append(zone)
    return zones


def _read_int(path: Path) -> int:
    return int(path.read_text())


class _Rapl:
    def __init__(self, zones: list[Path]) -> None:
        self.zones = zones
        self.ranges = [_read_int(z / "max_energy_range_uj") for z in zones]
        self.start = [_read_int(z / "energy_uj") for z in zones]

    def joules(self) -> float:
        total = 0
        for zone, first, span in zip(self.zones, self.start, self.ranges):
            now = _read_int(zone / "energy_uj")
            total += now - first if now >= first else now + span - first  # the counter wrapped once
        return total / 1e6


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (every torch thread of the run counts)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class _Nvml:
    """NVML energy counters (mJ since the driver loaded; Volta and later) of every GPU this process sees; a GPU
    without one is estimated from its enforced power limit."""

    def __init__(self) -> None:
        try:
            import pynvml
        except ImportError:
            raise RuntimeError(f"GPU energy counters need nvidia-ml-py: pip install 'depalm-bench[{EXTRA}]'") from None
        self.nvml = pynvml
        pynvml.nvmlInit()
        self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in _visible_gpu_indices(pynvml)]
        self.start = [self._counter(h) for h in self.handles]

    def _counter(self, handle) -> float | None:
        try:
            return float(self.nvml.nvmlDeviceGetTotalEnergyConsumption(handle)) / 1e3
        except self.nvml.NVMLError:
            return None

    def joules(self, seconds: float) -> tuple[float, bool]:
        """(energy, whether every GPU had a counter)."""
        total, measured = 0.0, True
        for handle, first in zip(self.handles, self.start):
            now = self._counter(handle)
            if first is None or now is None:
                total += self.nvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1e3 * seconds
                measured = False
            else:
                total += now - first
        self.nvml.nvmlShutdown()
        return total, measured


def _visible_gpu_indices(pynvml) -> list[int]:
    """NVML indices of the GPUs CUDA_VISIBLE_DEVICES leaves to this process (NVML itself ignores it)."""
    count = pynvml.nvmlDeviceGetCount()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return list(range(count))
    out = []
    for token in (t.strip() for t in visible.split(",") if t.strip()):
        if token.isdigit():
            out.append(int(token))
        else:  # a UUID (GPU-...) or MIG id
            try:
                handle = pynvml.nvmlDeviceGetHandleByUUID(token)
                out.append(pynvml.nvmlDeviceGetIndex(handle))
            except pynvml.NVMLError:
                continue
    return [i for i in out if i < count]


class CounterMeter:
    """RAPL + NVML counters, each replaced by its stated estimate where it cannot be read."""

    def __init__(self, cpu_tdp_w: float, gpus: bool, powercap: Path | None = None) -> None:
        self.cpu_tdp_w, self.gpus, self.powercap = cpu_tdp_w, gpus, powercap or POWERCAP

    def start(self) -> None:
        zones = rapl_zones(self.powercap)
        self._rapl = _Rapl(zones) if zones else None
        self._nvml = _Nvml() if self.gpus else None
        self._cpu0, self._t0 = _cpu_seconds(), time.perf_counter()

    def stop(self) -> EnergyReading:
        seconds = time.perf_counter() - self._t0
        if self._rapl is not None:
            joules, parts = self._rapl.joules(), ["rapl"]
        else:  # TDP x the run's share of the machine's cores x the time
            joules = self.cpu_tdp_w * (_cpu_seconds() - self._cpu0) / (os.cpu_count() or 1)
            parts = ["tdp-estimate"]
        if self._nvml is not None:
            gpu_joules, measured = self._nvml.joules(seconds)
            joules += gpu_joules
            parts.append("nvml" if measured else "gpu-tdp-estimate")
        return EnergyReading(joules, seconds, "+".join(parts))


# ---- codecarbon ---------------------------------------------------------------------------------------------


class CodecarbonMeter:
    """codecarbon's OfflineEmissionsTracker (no network), process mode; its kWh are used, its CO2 is not (the
    factor is this project's setting)."""

    def start(self) -> None:
        from codecarbon import OfflineEmissionsTracker

        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        self._tracker = OfflineEmissionsTracker(
            country_iso_code="FRA",  # required offline; it only sets codecarbon's CO2, which is not used
            output_methods=[],  # the numbers go to the results row only
            log_level="error",
            tracking_mode="process",
        )
        self._tracker.start()

    def stop(self) -> EnergyReading:
        self._tracker.stop()
        data = self._tracker.final_emissions_data
        return EnergyReading(data.energy_consumed * JOULES_PER_KWH, data.duration, self.method(data))

    def method(self, data: Any) -> str:
        # codecarbon does not publish which CPU source it used: its hardware objects hold it (`_mode`)
        parts: list[str] = []
        for hw in getattr(self._tracker, "_hardware", []):
            kind = type(hw).__name__
            if kind == "CPU":
                mode = getattr(hw, "_mode", "")
                parts.insert(0, _CODECARBON_CPU_MODES.get(mode, mode or "cpu"))
            elif kind == "GPU" and data.gpu_energy > 0:
                parts.append("nvml")
            elif kind == "RAM":
                parts.append("ram-estimate")
        return "codecarbon:" + "+".join(parts or ["unknown"])


# ---- the run's columns --------------------------------------------------------------------------------------


def open_meter(settings: EnergySettings, on_gpu: bool) -> Meter | None:
    """The meter the settings choose (None: off); auto takes codecarbon when it is installed."""
    if settings.meter == "off":
        return None
    if settings.meter == "codecarbon" or (
        settings.meter == "auto" and importlib.util.find_spec("codecarbon") is not None
    ):
        return CodecarbonMeter()
    return CounterMeter(settings.cpu_tdp_w, on_gpu)


class TrainingEnergy:
    """Measures the energy of a training from `start` to `stop`; a meter that fails costs the run its energy
    columns (said on stderr and in `energy_method`), never the run."""

    def __init__(self, settings: EnergySettings, on_gpu: bool) -> None:
        self.settings = settings
        self.meter = open_meter(settings, on_gpu)
        self.failure = ""

    def start(self) -> None:
        if self.meter is None:
            return
        try:
            self.meter.start()
        except Exception as e:  # noqa: BLE001 - a meter's failure must not fail the training it watches
            self.failure, self.meter = f"{type(e).__name__}: {e}", None

    def abandon(self) -> None:
        """Stop measuring a training that failed (its numbers are not used)."""
        if self.meter is not None:
            with contextlib.suppress(Exception):
                self.meter.stop()
            self.meter = None

    def stop(self, steps: int, resumed_from: int) -> dict[str, Any]:
        """The results row's energy columns for a training of `steps` steps resumed at `resumed_from`."""
        reading = None
        if self.meter is not None:
            try:
                reading = self.meter.stop()
            except Exception as e:  # noqa: BLE001 - as in start
                self.failure = f"{type(e).__name__}: {e}"
        if reading is None:
            if self.failure:
                print(f"energy not measured: {self.failure}", file=sys.stderr)
            return {"energy_method": f"unavailable ({self.failure})" if self.failure else ""}
        return energy_columns(reading, self.settings, steps, resumed_from)


def energy_columns(reading: EnergyReading, settings: EnergySettings, steps: int, resumed_from: int) -> dict[str, Any]:
    """energy_kwh (x PUE), co2_kg (x the factor), and how they were obtained. A resumed run measured only its last
    steps: their energy per step is extrapolated to all of them, and the method says so."""
    method, joules = reading.method, reading.joules
    if resumed_from:
        if steps <= resumed_from:
            return {"energy_method": "unavailable (resumed after its last step: its training was not measured)"}
        joules *= steps / (steps - resumed_from)
        method += f" (extrapolated from steps {resumed_from + 1}-{steps})"
    kwh = joules / JOULES_PER_KWH * settings.pue
    return {
        "energy_kwh": kwh,
        "co2_kg": kwh * settings.co2_kg_per_kwh,
        "co2_kg_per_kwh": settings.co2_kg_per_kwh,
        "pue": settings.pue,
        "energy_method": method,
    }
