"""Sandboxes that speak each courier's own wire protocol."""
