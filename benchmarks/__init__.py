"""Benchmarks: dataset registry, real loaders, the offline suite, and metrics."""
