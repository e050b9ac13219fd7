"""Kubeward gateway: the REST, WebSocket and SSE edge."""
