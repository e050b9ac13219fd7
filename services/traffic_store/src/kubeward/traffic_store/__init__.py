"""Kubeward traffic-store service: owns pod traffic and HTTP traffic."""
