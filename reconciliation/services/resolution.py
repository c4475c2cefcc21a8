"""Finance staff resolve discrepancies: assign, comment, propose, and a second person approves.

Every step is audited. An approved adjustment is a new balanced ledger posting, never an
edit; the person who proposed a resolution can never approve it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.errors import IllegalTransition, InvalidRequest, NotFound
from ledger import services as ledger
from ledger.models import LedgerAccount
from reconciliation.models import Discrepancy, DiscrepancyComment, DiscrepancyStatus

S = DiscrepancyStatus
ACTIONABLE = (S.OPEN, S.ASSIGNED, S.CARRIED_OVER, S.ESCALATED)
ACTIONS = {
    "accept_ours": "our record is right; the party corrects its file",
    "accept_theirs": "the party is right; our side is corrected by an adjustment",
    "write_off": "the difference is written off by an adjustment",
    "no_action": "nothing to do (explained in the note)",
}
NEEDS_POSTING = ("accept_theirs", "write_off")


@dataclass(frozen=True)
class Proposal:
    action: str
    note: str
    amount: int = 0  # fen, for an adjustment
    debit_account: str = ""
    credit_account: str = ""


def _locked(discrepancy_id: int, visible) -> Discrepancy:
    item = visible.select_for_update(of=("self",)).filter(pk=discrepancy_id).first()
    if item is None:
        raise NotFound(_("No such discrepancy."))
    return item


def discrepancy_assign(*, discrepancy_id: int, visible, assignee: str, actor: str) -> Discrepancy:
    user = get_user_model().objects.filter(username=assignee, is_active=True).first()
    if user is None:
        raise InvalidRequest(_("No such staff user."), fields={"assignee": ["Unknown user."]})
    with transaction.atomic(durable=True):
        item = _locked(discrepancy_id, visible)
        if item.status not in ACTIONABLE:
            raise IllegalTransition(
                _("A discrepancy that is %(status)s is not assigned.")
                % {"status": item.get_status_display()}
            )
        previous, item.assignee, item.status = item.status, user, S.ASSIGNED
        item.save(update_fields=["assignee", "status", "updated_at"])
        audit_record(
            actor=actor,
            action="discrepancy.assigned",
            obj=item,
            from_status=previous,
            to_status=item.status,
            data={"assignee": assignee},
        )
    return item


def discrepancy_comment(
    *, discrepancy_id: int, visible, text: str, actor: str
) -> DiscrepancyComment:
    with transaction.atomic(durable=True):
        item = _locked(discrepancy_id, visible)
        comment = DiscrepancyComment.objects.create(discrepancy=item, author=actor, text=text)
        audit_record(
            actor=actor, action="discrepancy.commented", obj=item, data={"comment": comment.pk}
        )
    return comment


def discrepancy_propose(
    *, discrepancy_id: int, visible, proposal: Proposal, actor: str
) -> Discrepancy:
    _check_proposal(proposal)
    with transaction.atomic(durable=True):
        item = _locked(discrepancy_id, visible)
        if item.status not in ACTIONABLE:
            raise IllegalTransition(
                _("A discrepancy that is %(status)s takes no proposal.")
                % {"status": item.get_status_display()}
            )
        previous = item.status
        item.proposal = {
            "action": proposal.action,
            "note": proposal.note,
            "amount": proposal.amount,
            "debit_account": proposal.debit_account,
            "credit_account": proposal.credit_account,
        }
        item.proposed_by, item.status = actor, S.PROPOSED
        item.save(update_fields=["proposal", "proposed_by", "status", "updated_at"])
        audit_record(
            actor=actor,
            action="discrepancy.proposed",
            obj=item,
            from_status=previous,
            to_status=item.status,
            data=item.proposal,
        )
    return item


def _check_proposal(proposal: Proposal) -> None:
    if proposal.action not in ACTIONS:
        raise InvalidRequest(
            _("Unknown action."), fields={"action": [f"One of {', '.join(ACTIONS)}."]}
        )
    if proposal.action not in NEEDS_POSTING:
        return
    if proposal.amount <= 0 or proposal.debit_account == proposal.credit_account:
        raise InvalidRequest(
            _("An adjustment needs a positive amount and two different accounts."),
            fields={"amount": ["Positive fen."], "credit_account": ["Not the debit account."]},
        )
    known = set(
        LedgerAccount.objects.filter(
            code__in=[proposal.debit_account, proposal.credit_account]
        ).values_list("code", flat=True)
    )
    unknown = {proposal.debit_account, proposal.credit_account} - known
    if unknown:
        raise InvalidRequest(
            _("Adjustments post between existing ledger accounts."),
            fields={"accounts": sorted(unknown)},
        )


def discrepancy_approve(*, discrepancy_id: int, visible, actor: str) -> Discrepancy:
    """The second person's approval: resolves it, posting the adjustment if there is one."""
    with transaction.atomic(durable=True):
        item = _locked(discrepancy_id, visible)
        if item.status != S.PROPOSED:
            raise IllegalTransition(_("Only a proposed resolution is approved."))
        if item.proposed_by == actor:
            raise IllegalTransition(_("A second person approves: not the one who proposed it."))
        proposal = item.proposal
        if proposal["action"] in NEEDS_POSTING:
            _post_adjustment(item, proposal)
        item.status, item.resolved_by, item.resolved_at = S.RESOLVED, actor, timezone.now()
        item.resolution = f"{proposal['action']}: {proposal['note']}"[:255]
        item.save(
            update_fields=["status", "resolved_by", "resolved_at", "resolution", "updated_at"]
        )
        audit_record(
            actor=actor,
            action="discrepancy.approved",
            obj=item,
            from_status=S.PROPOSED,
            to_status=S.RESOLVED,
            data={"proposed_by": item.proposed_by, **proposal},
        )
    return item


def discrepancy_reject(*, discrepancy_id: int, visible, actor: str, reason: str) -> Discrepancy:
    """The second person sends a proposal back; it is open again with the reason audited."""
    with transaction.atomic(durable=True):
        item = _locked(discrepancy_id, visible)
        if item.status != S.PROPOSED:
            raise IllegalTransition(_("Only a proposed resolution is rejected."))
        if item.proposed_by == actor:
            raise IllegalTransition(_("A second person rejects: not the one who proposed it."))
        item.status = S.ASSIGNED if item.assignee_id else S.OPEN
        item.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor,
            action="discrepancy.rejected",
            obj=item,
            from_status=S.PROPOSED,
            to_status=item.status,
            reason=reason,
        )
    return item


def _post_adjustment(item: Discrepancy, proposal: dict) -> None:
    accounts = {
        a.code: a
        for a in LedgerAccount.objects.filter(
            code__in=[proposal["debit_account"], proposal["credit_account"]]
        )
    }
    ledger.ledger_post(
        kind="adjustment",
        reference=f"discrepancy:{item.pk}",
        business_date=item.business_date,
        memo=f"{item.type} {item.key}"[:200],
        legs=[
            ledger.Leg(accounts[proposal["debit_account"]], debit=proposal["amount"]),
            ledger.Leg(accounts[proposal["credit_account"]], credit=proposal["amount"]),
        ],
    )
