"""Lifecycle rules and the temporary-object sweep."""
