"""A kind for testing fwbench itself: an expression whose implementation misbehaves.

Registered only when ``FWBENCH_ENABLE_TEST_KINDS=1``.  The ``fault`` field
picks the misbehaviour; ``fault_frameworks`` limits it to some frameworks
(default: all):

* ``wrong_result``: the output is scaled by 1.01 (a subtle numerical bug);
* ``raise``: the implementation raises RuntimeError;
* ``segfault``: the worker kills itself with SIGSEGV;
* ``sleep``: the implementation sleeps ``fault_seconds`` per call;
* ``wait_for_file``: each call waits until the file ``fault_file`` exists (at
  most ``fault_seconds``), so a test decides when a run can go on, whatever
  the machine's speed;
* ``allocate``: each call allocates ``fault_bytes`` more and keeps them (a leak
  that meets the worker's memory limit);
* ``kill_worker``: the first call SIGKILLs the cell's worker, as the OOM killer
  does, when the file ``fault_file`` does not exist yet (it is created first, so
  a retry runs normally; with no ``fault_file``, every time);
* ``plugin_field``: runs normally, and :meth:`extra_fields` returns fields no record defines, as a plugin
  kind may (they reach the record under ``extra``).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any, Callable

from fwbench.kinds.expression import ExpressionKind
from fwbench.kinds.fields import FieldReader

FAULTS = ("wrong_result", "raise", "segfault", "sleep", "wait_for_file", "allocate", "kill_worker", "plugin_field")


class FaultKind(ExpressionKind):
    NAME = "fault"
    FIELDS = ("expr", "inputs", "fault", "fault_frameworks", "fault_seconds", "fault_bytes", "fault_file")
    REQUIRED_FIELDS = ("expr", "inputs", "fault")

    @classmethod
    def parse_options(cls, reader: FieldReader, sweep: dict[str, list[int]]) -> dict[str, Any]:
        options = super().parse_options(reader, sweep)
        options["fault"] = reader.take_choice("fault", FAULTS)
        options["fault_frameworks"] = reader.take_list_of_choices(
            "fault_frameworks", ("numpy", "jax", "torch", "tensorflow"), None)
        options["fault_seconds"] = reader.take_float("fault_seconds", 1.0)
        options["fault_bytes"] = reader.take_int("fault_bytes", 2**30, minimum=1)
        options["fault_file"] = reader.take_str("fault_file", "")
        return options

    def extra_fields(self, params: dict[str, int], call: Callable[[], Any]) -> dict[str, Any]:
        if self.options["fault"] != "plugin_field":
            return super().extra_fields(params, call)
        return {"plugin_score": float(sum(params.values())), "plugin_notes": {"kind": "fault"}}

    def implementation(self, params: dict[str, int], framework: str, adapter: Any) -> Callable[..., Any]:
        function = super().implementation(params, framework, adapter)
        targets = self.options["fault_frameworks"]
        if targets is not None and framework not in targets:
            return function
        fault = self.options["fault"]
        if fault == "plugin_field":
            return function
        if fault == "wrong_result":
            return lambda *arrays: function(*arrays) * 1.01
        if fault == "raise":
            def broken(*arrays: Any) -> Any:
                raise RuntimeError("injected failure")
            return broken
        if fault == "segfault":
            def crash(*arrays: Any) -> Any:
                os.kill(os.getpid(), signal.SIGSEGV)
            return crash
        if fault == "kill_worker":
            once = self.options["fault_file"]

            def kill_worker(*arrays: Any) -> Any:
                if not once or not os.path.exists(once):
                    if once:
                        open(once, "w").close()
                    os.kill(os.getppid(), signal.SIGKILL)  # the cell's process dies with it (PDEATHSIG)
                    time.sleep(60)
                return function(*arrays)
            return kill_worker
        if fault == "allocate":
            import numpy

            kept: list = []

            def leak(*arrays: Any) -> Any:
                kept.append(numpy.ones(self.options["fault_bytes"], dtype=numpy.uint8))
                return function(*arrays)
            return leak
        seconds = self.options["fault_seconds"]
        if fault == "wait_for_file":
            path = self.options["fault_file"]

            def waiting(*arrays: Any) -> Any:
                deadline = time.monotonic() + seconds
                while not os.path.exists(path) and time.monotonic() < deadline:
                    time.sleep(0.01)
                return function(*arrays)
            return waiting

        def slow(*arrays: Any) -> Any:
            time.sleep(seconds)
            return function(*arrays)
        return slow
