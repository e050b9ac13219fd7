"""Kubeward mirror service."""
