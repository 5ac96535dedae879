"""Desktop e2e cases beyond the two core tests in ../e2e.py; see its docstring."""
