"""Reading validated fields out of a YAML mapping, with errors that locate them.

A :class:`FieldReader` wraps one mapping of a spec (the file's top level, one
workload, one input).  Every ``take_*`` call marks a key as read; unknown keys
are reported up front with the list of valid ones and a "did you mean".
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Iterable, Mapping

from fwbench.errors import SpecError, describe

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_MISSING = object()


class FieldReader:
    """Typed access to one mapping of a spec file."""

    def __init__(
        self,
        mapping: Any,
        *,
        file: str,
        workload: str | None = None,
        prefix: str = "",
        what: str = "this mapping",
    ) -> None:
        self.file = file
        self.workload = workload
        self.prefix = prefix
        if not isinstance(mapping, Mapping):
            raise SpecError(
                f"expected a mapping (key: value pairs) for {what}, got {describe(mapping)}",
                file=file,
                workload=workload,
                field=prefix.rstrip(".") or None,
            )
        self.mapping = mapping

    # ------------------------------------------------------------------ helpers

    def field_name(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def error(self, key: str, message: str, hint: str | None = None) -> SpecError:
        return SpecError(
            message, file=self.file, workload=self.workload, field=self.field_name(key), hint=hint
        )

    def child(self, key: str, value: Any, what: str) -> "FieldReader":
        return FieldReader(
            value, file=self.file, workload=self.workload, prefix=f"{self.field_name(key)}.", what=what
        )

    def check_keys(self, valid: Iterable[str], required: Iterable[str] = ()) -> None:
        """Refuse unknown keys (listing the valid ones) and missing required ones."""
        valid = list(valid)
        for key in self.mapping:
            if not isinstance(key, str):
                raise SpecError(
                    f"keys must be strings, got {describe(key)}; valid keys: {', '.join(valid)}",
                    file=self.file,
                    workload=self.workload,
                    field=self.prefix.rstrip(".") or None,
                )
            if key not in valid:
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f"did you mean '{close[0]}'?" if close else "remove it or use a valid key"
                raise self.error(key, f"unknown key '{key}'; valid keys: {', '.join(valid)}", hint)
        for key in required:
            if key not in self.mapping:
                raise self.error(key, f"the required key '{key}' is missing", f"add '{key}:'")

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        if key in self.mapping:
            return self.mapping[key]
        if default is _MISSING:
            raise self.error(key, f"the required key '{key}' is missing", f"add '{key}:'")
        return default

    # ------------------------------------------------------------------ typed reads

    def take_str(self, key: str, default: Any = _MISSING, pattern: re.Pattern | None = None,
                 expected: str = "a string") -> Any:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
            raise self.error(key, f"got {describe(value)}, expected {expected}")
        return value

    def take_choice(self, key: str, choices: Iterable[str], default: Any = _MISSING) -> Any:
        choices = list(choices)
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        if value not in choices or not isinstance(value, str):
            close = difflib.get_close_matches(str(value), choices, n=1)
            hint = f"did you mean '{close[0]}'?" if close else None
            raise self.error(key, f"got {describe(value)}, expected one of: {', '.join(choices)}", hint)
        return value

    def take_int(self, key: str, default: Any = _MISSING, minimum: int | None = None,
                 maximum: int | None = None) -> Any:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        return check_int(value, minimum, maximum, lambda message: self.error(key, message))

    def take_float(self, key: str, default: Any = _MISSING, positive: bool = True) -> Any:
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (positive and not value > 0):
            raise self.error(key, f"got {describe(value)}, expected a {'positive ' if positive else ''}number")
        return float(value)

    def take_list_of_choices(self, key: str, choices: Iterable[str], default: Any = _MISSING) -> Any:
        choices = list(choices)
        value = self.raw(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise self.error(key, f"got {describe(value)}, expected a non-empty list of: {', '.join(choices)}")
        for item in value:
            if item not in choices or not isinstance(item, str):
                close = difflib.get_close_matches(str(item), choices, n=1)
                hint = f"did you mean '{close[0]}'?" if close else None
                raise self.error(key, f"got {describe(item)} in the list, expected one of: {', '.join(choices)}", hint)
        return list(dict.fromkeys(value))


def check_int(value: Any, minimum: int | None, maximum: int | None, make_error) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            expected = "an integer written without a decimal point"
        else:
            expected = "an integer"
        raise make_error(f"got {describe(value)}, expected {expected}")
    if minimum is not None and value < minimum:
        raise make_error(f"got {value}, expected an integer >= {minimum}")
    if maximum is not None and value > maximum:
        raise make_error(f"got {value}, expected an integer <= {maximum}")
    return value


def take_size(reader: FieldReader, key: str, sweep: dict[str, list[int]]) -> int | str:
    """A size given as a positive integer or as a symbol of the sweep."""
    value = reader.raw(key)
    if isinstance(value, str):
        if value not in sweep:
            raise reader.error(key, f"the symbol '{value}' is not defined in the sweep",
                               f"add 'sweep: {{{value}: [...]}}' or give a number")
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise reader.error(key, f"got {describe(value)}, expected a positive integer or a sweep symbol")
    return value


def check_sweep_used(reader: FieldReader, sweep: dict[str, list[int]], used: set, by: str) -> None:
    unused = [symbol for symbol in sweep if symbol not in used]
    if unused:
        raise reader.error("sweep", f"the symbol '{unused[0]}' is not used by {by}",
                           "remove it from the sweep or use it")
