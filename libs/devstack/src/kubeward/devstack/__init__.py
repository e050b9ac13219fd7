"""Start Kubeward's infrastructure and services locally: ``make run``, tests and benchmarks."""
