"""Benchmarks against a PyTorch reference (torch is a benchmark-only dependency)."""
