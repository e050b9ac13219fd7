"""Shared infrastructure for Kubeward services: settings, bus, storage, health, metrics."""
