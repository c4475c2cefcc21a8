"""The outside parties' sandboxes: each provider's side of its published protocol.

A product of its own, like stripe-mock: one package per provider, written from the
provider's documents, importing nothing from ``integrations/`` (our adapters), so that a
test of an adapter against its sandbox can find a bug in either. Served by their own
process (`manage.py sandboxes`); their state survives a restart (``sandboxes.state``) and
``POST /sandbox/_control/reset`` empties it for a test.
"""
