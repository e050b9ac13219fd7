"""Kubeward ingest service: validates collector input and routes it to the internal streams."""
