"""Sandboxes of the payment providers: real HTTP peers speaking each provider's protocol."""
