"""Configuration: validated model, TOML loading, diffs."""
