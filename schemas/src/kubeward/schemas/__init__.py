"""Kubeward contracts: every Struct that crosses a process boundary, and the bus layout."""
