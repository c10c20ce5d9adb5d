"""The parent's side of a worker (fwbench.execution.worker_process)."""

import shutil

from fwbench.execution.worker_process import WorkerProcess


def test_every_receive_after_the_worker_has_gone_returns_at_once_with_its_cause(tmp_path):
    # An interleaved size's members share their framework's worker and are each asked for a reply: when the
    # worker dies, every ask must learn so, not only the first (the later ones waited out the cell timeout).
    worker = WorkerProcess({}, tmp_path / "worker.log", python=shutil.which("true"))  # exits at once, says nothing
    for _ in range(3):
        assert worker.receive(timeout_s=60) is None
        assert worker.cause == "worker exited with code 0", worker.cause  # gone, not timed out
