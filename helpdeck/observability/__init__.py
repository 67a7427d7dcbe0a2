"""Operations: Prometheus metrics, readiness probes, tracing, and the Temporal SDK's telemetry."""
