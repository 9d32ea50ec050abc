"""Experiment runners: the demo's and the benchmark scripts' engine (subprocesses, budgets, comparisons)."""
