"""The one user-facing error type.

Every mistake a user can make (a bad spec, a bad flag, an unusable results
directory) is raised as :class:`UserError` or its subclass :class:`SpecError`.
The CLI catches it once, prints its single line and exits with code 2.
"""

from __future__ import annotations

import reprlib
import signal


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        text = self.message
        if self.hint:
            text = f"{text} (fix: {self.hint})"
        return " ".join(text.split())


class SpecError(UserError):
    """A problem in a spec file, located by file, workload and field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        workload: str | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.workload = workload
        self.field = field
        where = []
        if file:
            where.append(str(file))
        if workload:
            where.append(f"workload '{workload}'")
        if field:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message, hint=hint)


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 2, 4, 4, 50, 50


def describe(value: object, limit: int = 60) -> str:
    """Show a received value briefly in an error message (bounded, even for huge nested data)."""
    text = _SHORT.repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{text} ({type(value).__name__})"

def describe_exit(code: int) -> str:
    """``exited with code 3`` or ``killed by signal SIGSEGV``, from an exit code (negative: the signal)."""
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"
