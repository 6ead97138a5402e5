"""Benchmarks: scripts that run the real pipeline on this machine and print numbers."""
