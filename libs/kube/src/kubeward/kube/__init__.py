"""Kubernetes API access shared by the services that talk to a cluster (gateway, mirror)."""
