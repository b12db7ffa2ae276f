"""Deterministic synthetic data (customers, accounts, meters, readings) for demos, tests and
benchmarks, plus the two documented demo customers."""
