"""Clients of services outside the cluster: LLM providers (failure diagnosis, security
fixes) and notification senders (Slack, Teams, webhooks, ...)."""
