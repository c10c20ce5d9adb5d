"""``fwbench schema``: print the JSON Schema of spec files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from fwbench.cli.common import console, user_errors


@user_errors
def schema(
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the schema to this file instead."),
) -> None:
    """Print the JSON Schema of spec files, built from the validator's own key lists and choices.

    For editors with the YAML language server, save it and start a spec with
    the line:  # yaml-language-server: $schema=fwbench-spec.schema.json

    Example: fwbench schema --out fwbench-spec.schema.json
    """
    from fwbench.spec.schema import spec_schema

    text = json.dumps(spec_schema(), indent=2) + "\n"
    if out is None:
        print(text, end="")
        return
    out.write_text(text, encoding="utf-8")
    console.print(f"Wrote {out}", markup=False)
