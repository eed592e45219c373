"""Scheduled runs (retention, integrity): one interface, two runners (Kubernetes Job, in-process)."""
