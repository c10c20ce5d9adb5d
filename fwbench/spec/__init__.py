"""Spec files: YAML loading and validation, and the safe expression parser."""
