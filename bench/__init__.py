"""Benchmarks of the serving path and the training data path (``python -m bench``, ``make bench``)."""
