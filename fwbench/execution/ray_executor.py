"""``fwbench run --executor ray``: each (framework, device) worker group runs as a Ray task.

fwbench does not schedule machines itself.  On a Ray cluster every worker
group becomes one task that starts the ordinary fwbench worker process on
the node Ray picks, streams its records back (a Ray streaming generator),
and lands them in the same ``results.jsonl``, each row carrying the node's
host name and environment.

Resources keep timings honest:

* a CPU group asks for **every CPU of its node** (``num_cpus`` = the node's
  CPU count), so no two timing jobs ever share cores; all CPU groups are
  pinned to one node (the first with the most CPUs), so every framework is
  compared on the same hardware;
* a GPU group asks for a whole GPU (``num_gpus=1``), a TPU group for a
  ``TPU`` resource.

Faults follow the local rules: a worker that crashes fails its in-flight
cell and a fresh worker takes the rest (inside the task); a lost node or task
fails the group's remaining cells with the cause, the rest of the run goes
on, and ``--resume`` finishes it.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Iterator

from fwbench.errors import UserError
from fwbench.execution.groups import WorkerGroup
from fwbench.records.results import with_fields

EXTRA_HINT = "pip install 'fwbench[ray]'"


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray, which is not installed", hint=EXTRA_HINT) from None
    return ray


def connect(address: str | None) -> Any:
    ray = import_ray()
    if not ray.is_initialized():
        try:
            ray.init(address=address or None, include_dashboard=False, log_to_driver=False,
                     ignore_reinit_error=True, configure_logging=False)
        except ConnectionError as error:
            raise UserError(f"--address: cannot reach a Ray cluster at {address}: {error}",
                            hint="start one with 'ray start --head' or leave --address out for a local one") from None
    return ray


def _cpu_node(ray: Any) -> tuple[str, float]:
    nodes = [node for node in ray.nodes() if node.get("Alive") and node["Resources"].get("CPU")]
    if not nodes:
        raise UserError("the Ray cluster has no node with CPUs")
    best = max(nodes, key=lambda node: (node["Resources"]["CPU"], node["NodeID"]))
    return best["NodeID"], best["Resources"]["CPU"]


def resources_for(ray: Any, device: str) -> dict[str, Any]:
    """The resource request of one worker group (see the module docstring)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if device == "gpu":
        return {"num_gpus": 1, "num_cpus": 1}
    if device == "tpu":
        return {"resources": {"TPU": 1}, "num_cpus": 1}
    node_id, cpus = _cpu_node(ray)
    return {"num_cpus": cpus, "scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)}


def _run_group_on_node(framework: str, device: str, state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Runs on the Ray node: the local supervisor (with restarts), yielding each finished record."""
    import tempfile
    from pathlib import Path

    from fwbench.execution.groups import GroupSettings, WorkerGroup
    from fwbench.machine.envinfo import host_info
    from fwbench.stats.timing import TimerSettings

    scratch = Path(tempfile.mkdtemp(prefix="fwbench-ray-"))
    run_info = dict(state["run_info"], host=host_info())  # the node's own machine facts on every row
    settings = GroupSettings(out_dir=scratch, run_info=run_info, timer=TimerSettings(**state["timer"]),
                             cell_timeout_s=state["timeout"], memory_limit_bytes=state.get("memory_limit_bytes"),
                             round_index=state["round"],
                             unset_environment=tuple(state.get("unset_environment") or ()),
                             attempt=state.get("attempt") or 1)
    records: queue.Queue = queue.Queue()

    def stream(cell: Any, record: dict[str, Any]) -> dict[str, Any]:
        record = with_fields(record, executor="ray", node=run_info["host"]["hostname"])
        records.put(("record", record))
        return record

    group = WorkerGroup(framework, device, state["cells"], settings, stream)

    def work() -> None:
        try:
            group.run()
            records.put(("hellos", group.hellos))
        except BaseException as error:  # noqa: BLE001 - reported to the driver as the group's cause
            records.put(("error", f"{type(error).__name__}: {error}"))
        records.put(("end", None))

    threading.Thread(target=work, daemon=True).start()
    while True:
        kind, payload = records.get()
        if kind == "end":
            return
        yield {"kind": kind, "payload": payload}


def run_on_ray(groups: list[WorkerGroup], address: str | None) -> list[dict[str, Any]]:
    """Submit every group as a task, write records as they stream in; lost tasks fail their cells."""
    ray = connect(address)
    remote = ray.remote(_run_group_on_node)
    streams = []
    for group in groups:
        settings = group.settings
        state = {"cells": group.cells, "timer": settings.timer.to_dict(), "timeout": settings.cell_timeout_s,
                 "run_info": group.run_info, "memory_limit_bytes": settings.memory_limit_bytes,
                 "unset_environment": list(settings.unset_environment), "attempt": settings.attempt,
                 "round": settings.round_index}
        request = resources_for(ray, group.device)
        group.progress.worker(group.framework, group.device, "starting")
        streams.append((group, remote.options(max_retries=0, **request).remote(group.framework, group.device, state)))
    records: list[dict[str, Any]] = []
    for group, stream in streams:
        finished: set[str] = set()
        cause = None
        try:
            for reference in stream:
                message = ray.get(reference)
                if message["kind"] == "record":
                    record = message["payload"]
                    cell = next(c for c in group.cells if c.cell_id == record["cell_id"])
                    records.append(group.finish(cell, record))
                    finished.add(cell.cell_id)
                elif message["kind"] == "hellos":
                    group.hellos.extend(message["payload"])
                else:
                    cause = f"the Ray task failed: {message['payload']}"
        except Exception as error:  # noqa: BLE001 - a lost node or task: its remaining cells fail
            cause = f"the Ray task or its node was lost: {type(error).__name__}: {str(error).splitlines()[0]}"
        for cell in group.cells:
            if cell.cell_id not in finished:
                records.append(group.fail(cell, cause or "the Ray task ended without this cell"))
    return records

