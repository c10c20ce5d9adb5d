"""Executors other than the local one (which lives in fwbench.runner): Ray."""
