"""``fwbench env``: frameworks, versions, devices and thread settings on this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich import box
from rich.table import Table

from fwbench.adapters import FRAMEWORKS, find_installed, get_adapter
from fwbench.cli.common import console, user_errors
from fwbench.execution.runner import default_threads
from fwbench.machine.envinfo import host_info

PROBE_TIMEOUT_S = 180


def probe_frameworks(num_threads: int) -> list[dict[str, Any]]:
    """Ask a fresh process per framework (in parallel) what it sees; imports nothing here."""
    package_root = str(Path(__file__).resolve().parents[2])
    running = {}
    results = {}
    for name in FRAMEWORKS:
        installed, version, reason = find_installed(name)
        if not installed:
            results[name] = {"framework": name, "available": False, "reason": reason}
            continue
        environment = dict(os.environ)
        environment.update(get_adapter(name).thread_environment(num_threads, "any"))
        environment["PYTHONPATH"] = os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])])
        running[name] = subprocess.Popen(
            [sys.executable, "-m", "fwbench.worker", "--probe", name, "--threads", str(num_threads)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment,
        )
    for name, process in running.items():
        try:
            stdout, stderr = process.communicate(timeout=PROBE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            results[name] = {"framework": name, "available": False,
                             "reason": f"the probe took longer than {PROBE_TIMEOUT_S} s"}
            continue
        try:
            results[name] = json.loads(stdout.decode().strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            results[name] = {"framework": name, "available": False,
                             "reason": f"the probe exited with code {process.returncode}: {tail[0]}"}
    return [results[name] for name in FRAMEWORKS]


@user_errors
def env(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Thread count to report settings for "
                                                                  "(default: the usable cores)."),
) -> None:
    """Show each framework's version, availability (or why not) and devices, and the machine.

    Every framework is asked in its own process, so a broken install shows as
    "unavailable: reason" instead of a crash.
    """
    num_threads = threads or default_threads()
    frameworks = probe_frameworks(num_threads)
    info = {"host": host_info(), "num_threads": num_threads, "frameworks": frameworks}
    if as_json:
        print(json.dumps(info, indent=2))
        return
    host = info["host"]
    machine = Table(title="Machine", show_header=False, box=box.SIMPLE_HEAD)
    machine.add_column("what")
    machine.add_column("value")
    for key in ("cpu_model", "cpu_best_isa", "physical_cores", "logical_cores", "usable_cores", "memory_total_bytes",
                "os", "os_release", "python", "device_kinds"):
        value = host[key]
        if key == "memory_total_bytes" and value:
            value = f"{value / 2**30:.1f} GiB"
        machine.add_row(key, str(value))
    machine.add_row("threads per framework", str(num_threads))
    variables = host.get("kernel_environment") or {}
    machine.add_row("kernel/thread variables", ", ".join(f"{k}={v}" for k, v in variables.items()) or "none set")
    accelerators = host.get("accelerators") or {}
    for gpu in accelerators.get("gpus", []):
        machine.add_row(f"GPU {gpu.get('index')}", f"{gpu.get('name')}, driver {gpu.get('driver_version')}, CUDA "
                        f"{accelerators.get('cuda_version')}, graphics clock {gpu.get('clocks.current.graphics')} of "
                        f"{gpu.get('clocks.max.graphics')} MHz, power limit {gpu.get('power.limit')} W, persistence "
                        f"{gpu.get('persistence_mode')}, ECC {gpu.get('ecc.mode.current')}, MIG "
                        f"{gpu.get('mig.mode.current')}")
    if not accelerators.get("gpus"):
        machine.add_row("accelerator facts", str(accelerators.get("nvidia_smi")))
    for warning in accelerators.get("warnings", []):
        machine.add_row("warning", warning)
    console.print(machine)
    table = Table(title="Frameworks", box=box.SIMPLE_HEAD)
    for column in ("framework", "version", "status", "devices", "modes"):
        table.add_column(column, overflow="fold")
    settings = Table(title="Framework settings (threads, precision)", box=box.SIMPLE_HEAD)
    for column in ("framework", "setting", "value"):
        settings.add_column(column, overflow="fold")
    for item in frameworks:
        if item["available"]:
            devices = ", ".join(f"{d['kind']}: {d['name']}" for d in item["devices"])
            table.add_row(item["framework"], item["version"], "available", devices, ", ".join(item["modes"]))
            for key, value in item["settings"].items():
                settings.add_row(item["framework"], key, str(value))
        else:
            table.add_row(item["framework"], item.get("version") or "-", f"unavailable: {item['reason']}",
                          "-", "-")
    console.print(table, markup=False)
    console.print(settings, markup=False)
    console.print(kernel_table(frameworks, host), markup=False)
    for sentence in kernel_notes(frameworks, host):
        console.print(f"  - {sentence}", markup=False, soft_wrap=True)


def kernel_table(frameworks: list[dict[str, Any]], host: dict[str, Any]) -> Table:
    """A row per library behind each available framework's CPU kernels: version, kernel set, its ISA."""
    table = Table(title=f"Kernels (this CPU's best: {host.get('cpu_best_isa') or 'unknown'})", box=box.SIMPLE_HEAD)
    for column in ("framework", "library", "version", "kernel set", "ISA", "used for"):
        table.add_column(column, overflow="fold")
    for item in frameworks:
        if not item.get("available"):
            continue
        kernels = item.get("kernels") or {}
        for library in kernels.get("libraries") or []:
            table.add_row(item["framework"], str(library.get("library")), str(library.get("version") or "-"),
                          str(library.get("kernel") or "-"), str(library.get("isa") or "-"), str(library.get("role")))
        if kernels.get("unknown"):
            table.add_row(item["framework"], "-", "-", f"unknown: {kernels['unknown']}", "-", "-")
    return table


def kernel_notes(frameworks: list[dict[str, Any]], host: dict[str, Any]) -> list[str]:
    """A sentence per framework whose matrix products run below the CPU's best ISA or under a variable that
    changes its kernels (the same judgement as the report's finding)."""
    from fwbench.report.fairness import kernel_shortfall

    notes = []
    for item in frameworks:
        if item.get("available"):
            shortfall = kernel_shortfall(item["framework"], item.get("kernels") or {},
                                         item.get("kernel_environment") or {}, host.get("cpu_best_isa"))
            if shortfall:
                notes.append(shortfall)
    return notes
