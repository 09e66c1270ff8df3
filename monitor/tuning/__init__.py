"""Tuning: evaluate, replay and try keyword changes before they go into config.toml."""
