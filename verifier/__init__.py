"""Verifiers: span replay, tolerance calibration, probes and consensus (not built yet)."""
