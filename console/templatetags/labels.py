"""Codes shown in the reader's language: ``{{ run.step|term:"run_step" }}``,
``{{ run.party|party }}``, ``{{ record.action|audit_action }}``,
``{{ record.to_status|choice_label:record.object_type }}`` (an audit row's status, which
names its model only by class name), ``{{ refund.reason|stored_text }}``.

Model instances show their own translated labels with ``get_<field>_display``; these are
for the codes that have none (console.terms, console.names, console.audit_labels) and the
sentences services store (console.stored_texts).
"""

from __future__ import annotations

from django import template

from console import audit_labels, names, stored_texts, terms

register = template.Library()

register.filter("term", terms.term)
register.filter("account", terms.account_name)
register.filter("posting", terms.posting_name)
register.filter("party", names.party_name)
register.filter("channel", names.channel_name)
register.filter("courier", names.courier_name)
register.filter("choice_label", audit_labels.status_label)
register.filter("object_label", audit_labels.object_label)
register.filter("audit_action", audit_labels.action_label)
register.filter("actor", audit_labels.actor)
register.filter("audit_details", audit_labels.details)
register.filter("stored_text", stored_texts.stored_text)


@register.filter
def channels(codes) -> list[str]:
    """Channel codes by name: ``{{ candidates|channels|join:", " }}``."""
    return [names.channel_name(code) for code in codes or ()]


@register.filter
def terms_of(codes, table: str) -> list[str]:
    """Each code of a list by its label: ``{{ scopes|terms_of:"licence_scope"|join:", " }}``."""
    return [terms.term(code, table) for code in codes or ()]
