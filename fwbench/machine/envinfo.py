"""Facts about the machine, gathered without importing any framework."""

from __future__ import annotations

import glob
import os
import platform
import socket
import sys
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, Mapping

from fwbench.machine.kernels import cpu_best_isa, kernel_environment


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def logical_cores() -> int:
    return os.cpu_count() or 1


def usable_cores() -> list[int]:
    """The CPUs this process may run on (its affinity mask)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(logical_cores()))


def physical_cores() -> int | None:
    try:
        pairs = set()
        physical = core = None
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("physical id"):
                    physical = line.split(":", 1)[1].strip()
                elif line.startswith("core id"):
                    core = line.split(":", 1)[1].strip()
                elif not line.strip():
                    if core is not None:
                        pairs.add((physical, core))
                    physical = core = None
        return len(pairs) or None
    except OSError:
        return None


def memory_bytes() -> dict[str, int | None]:
    total = available = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key == "MemTotal":
                    total = int(value.split()[0]) * 1024
                elif key == "MemAvailable":
                    available = int(value.split()[0]) * 1024
    except OSError:
        pass
    return {"total": total, "available": available}


def host_device_kinds() -> dict[str, str]:
    """Which device kinds this host has, from device files (no framework is imported).

    Returns kind -> how it was detected.  The CPU is always present; whether a
    given framework can use a GPU or TPU is decided in its worker.
    """
    kinds = {"cpu": "always present"}
    forced = os.environ.get("FWBENCH_DEVICES")
    if forced:
        return {kind.strip(): "FWBENCH_DEVICES" for kind in forced.split(",") if kind.strip()}
    if glob.glob("/dev/nvidia[0-9]*"):
        kinds["gpu"] = "/dev/nvidia*"
    elif os.path.exists("/dev/kfd"):
        kinds["gpu"] = "/dev/kfd (ROCm)"
    if glob.glob("/dev/accel[0-9]*") or glob.glob("/dev/vfio/[0-9]*") or os.environ.get("TPU_NAME"):
        kinds["tpu"] = "/dev/accel*, /dev/vfio or TPU_NAME"
    return kinds


@dataclass(frozen=True)
class HostFacts:
    """The machine a run measured on, as every run and every round record states it (``host``): built here
    only (:meth:`collect`), frozen, and written as a plain mapping (:meth:`as_dict`).  What makes two hosts
    "the same machine" is :mod:`fwbench.machine.host`."""

    hostname: str
    python: str
    python_implementation: str
    os: str
    os_release: str
    platform: str
    machine: str
    cpu_model: str | None
    cpu_best_isa: str | None
    kernel_environment: Mapping[str, str]
    logical_cores: int | None
    physical_cores: int | None
    usable_cores: int
    memory_total_bytes: int | None
    memory_available_bytes: int | None
    device_kinds: tuple[str, ...]
    accelerators: Mapping[str, Any]

    @classmethod
    def collect(cls) -> "HostFacts":
        """This host's facts, now (no framework is imported; nvidia-smi is asked only where a GPU is)."""
        memory = memory_bytes()
        device_kinds = host_device_kinds()
        return cls(hostname=socket.gethostname(), python=sys.version.split()[0],
                   python_implementation=platform.python_implementation(), os=platform.system(),
                   os_release=platform.release(), platform=platform.platform(), machine=platform.machine(),
                   cpu_model=cpu_model(), cpu_best_isa=cpu_best_isa(), kernel_environment=kernel_environment(),
                   logical_cores=logical_cores(), physical_cores=physical_cores(), usable_cores=len(usable_cores()),
                   memory_total_bytes=memory["total"], memory_available_bytes=memory["available"],
                   device_kinds=tuple(device_kinds), accelerators=accelerator_facts(device_kinds))

    def as_dict(self) -> dict[str, Any]:
        """The facts as JSON holds them (``host`` in run.json and in every round record)."""
        found = {item.name: getattr(self, item.name) for item in fields(self)}
        found["device_kinds"] = list(self.device_kinds)
        found["kernel_environment"] = dict(self.kernel_environment)
        found["accelerators"] = dict(self.accelerators)
        return found


def host_info() -> dict[str, Any]:
    """This host's facts as a plain mapping (:class:`HostFacts`)."""
    return HostFacts.collect().as_dict()


def accelerator_facts(device_kinds: dict[str, str]) -> dict[str, Any]:
    """nvidia-smi's facts where the host has an NVIDIA GPU (see :mod:`fwbench.machine.accelerators`)."""
    from fwbench.machine.accelerators import clock_warnings, nvidia_facts

    if "gpu" not in device_kinds:
        return {"nvidia_smi": "not queried: no GPU on this host"}
    facts = nvidia_facts()
    facts["warnings"] = clock_warnings(facts)
    return facts


BUSY_LOAD_PER_CORE = 0.5


def machine_busy_reasons() -> list[str]:
    """Why this machine looks busy right now (empty if it looks quiet): load, and other fwbench runs."""
    reasons = []
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    cores = logical_cores()
    if load > BUSY_LOAD_PER_CORE * cores:
        reasons.append(f"the 1-minute load average is {load:.2f} on {cores} cores")
    others = other_fwbench_processes()
    if others:
        shown = ", ".join(f"{pid} ({command[:60]})" for pid, command in others[:3])
        reasons.append(f"{len(others)} other fwbench process(es) are running: {shown}")
    return reasons


def other_fwbench_processes() -> list[tuple[int, str]]:
    """(pid, command line) of fwbench runs and workers other than this process and its own children."""
    own = os.getpid()
    found = []
    for entry in glob.glob("/proc/[0-9]*/cmdline"):
        pid = int(entry.split("/")[2])
        if pid == own:
            continue
        try:
            with open(entry, "rb") as handle:
                words = handle.read().decode(errors="replace").split("\0")
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        command = " ".join(word for word in words if word)
        is_run = any(word.endswith("fwbench") for word in words[:2]) and "run" in words[1:3]
        if (is_run or any("fwbench.worker" in word for word in words)) and parent != own:
            found.append((pid, command))
    return found
