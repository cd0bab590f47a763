"""Containers as records: configuration, state, naming and lookup (no kernel work here)."""
