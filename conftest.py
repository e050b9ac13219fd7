"""Registers the shared fixtures (real NATS, MongoDB wire server and Redis) for every test."""

pytest_plugins = ["kubeward.devstack.testing"]
