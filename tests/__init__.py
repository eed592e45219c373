"""Test suite for payload-operator."""
