"""Object storage adapters: one Protocol, one module per provider."""
