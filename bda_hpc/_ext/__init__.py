"""Compiled kernels built from csrc/ (see setup.py)."""
