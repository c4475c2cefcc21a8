"""Sandboxes of the revenue-collection systems: real HTTP peers speaking the push protocol."""
