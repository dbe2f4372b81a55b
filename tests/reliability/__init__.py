"""Reliability tests (issue 8): registry and job durability, hostile input files, fuzzed loaders."""
