"""Development kit: the emulators, fault proxy and cluster harness that tests, the demo and benchmarks share."""
