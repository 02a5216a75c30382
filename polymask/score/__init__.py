"""Scoring predictions against ground truth: pairing, one confusion engine, metrics, the report."""
