"""`make run` and its demo: real orders, payments, shipments and trouble.

``manage.py serve`` (demo/management/commands/serve.py) runs the whole service on one
machine, with its child processes and periodic jobs (``demo.runner``) under one run lock
per clone (``demo.run_lock``). It seeds the demo's reference data (``demo.reference``) and
logins (``demo.access``) on every start, and the demo business day once per database.

Everything goes through the service functions and the sandboxes' own controls, as the
tests do: no row is written here that a service would not write. ``demo.day`` puts the
day together; ``payments``, ``shipments``, ``trouble``, ``settlement``, ``close``,
``sandboxes`` and ``waiting`` each play one part of it.
"""
