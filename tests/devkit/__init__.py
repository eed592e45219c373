"""Tests of the development kit itself (emulators, fault proxy, harness)."""
