"""fwbench: fair, verified benchmarks of NumPy, JAX, PyTorch and TensorFlow.

``import fwbench`` imports no framework; frameworks load only inside worker
processes.  From Python, :func:`load_results` reads runs into pandas.
"""

__version__ = "0.1.0"


def load_results(*paths):
    """Read results files or run directories into a pandas DataFrame (one row per cell)."""
    from fwbench.records.results import load_results as _load

    return _load(*paths)


__all__ = ["__version__", "load_results"]
