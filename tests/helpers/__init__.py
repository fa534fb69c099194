"""Helpers shared by tests and benchmarks (import as ``helpers.<module>`` with tests/ on the path)."""
