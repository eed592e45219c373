"""Shared test infrastructure: real servers started as subprocesses on free ports."""
