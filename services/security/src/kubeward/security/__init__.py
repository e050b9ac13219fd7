"""Kubeward security service."""
