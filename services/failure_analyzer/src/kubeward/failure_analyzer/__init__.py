"""Kubeward failure-analyzer service."""
