"""The demo business day of `make run`: real orders, payments, shipments and trouble.

Everything goes through the service functions and the sandboxes' own controls, as the
tests do: no row is written here that a service would not write. ``demo.day`` puts the
day together; the other modules each play one part of it.
"""
