"""payload-operator: keeps Durable Workflow external payload storage declared, checked and tidy."""

__version__ = "0.1.0"
