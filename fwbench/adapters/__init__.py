"""Framework adapters, one module per framework with the same function names.

Importing this package or an adapter module imports no framework; each
adapter imports its framework in :func:`load`, which only worker processes
call.  See :mod:`fwbench.adapters.base` for the interface.
"""

from fwbench.adapters.base import FRAMEWORKS, find_installed, get_adapter

__all__ = ["FRAMEWORKS", "find_installed", "get_adapter", "installed_versions"]


def installed_versions() -> dict[str, str | None]:
    """Each framework's installed version (None where it is not installed); imports none of them."""
    return {name: find_installed(name)[1] for name in FRAMEWORKS}
