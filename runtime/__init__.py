"""Runtime: JAX simulators (reference and circuit-level), verification, deployment hooks."""
