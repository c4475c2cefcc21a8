"""The discrepancy queue and one discrepancy's page: filters, department scope, both sides of
a real run's item, and the four-eyes resolution through the console's forms."""

from __future__ import annotations

from datetime import date, timedelta
from html.parser import HTMLParser

import pytest
from django.utils import timezone

from core.auth import AUDITOR_GROUP
from core.models import AuditRecord
from ledger import services as ledger
from ledger.models import LedgerPosting
from reconciliation.models import (
    Clearing,
    Discrepancy,
    DiscrepancyComment,
    PartyKind,
    ReconciliationRun,
    StatementFile,
)
from reconciliation.parties import parse_party
from reconciliation.statements import statement_store
from tests.billing.conftest import (  # noqa: F401 - fixtures
    NATURAL_ID,
    create_order,
    portal,
)
from tests.conftest import make_department
from tests.console.conftest import logged_in, make_staff
from tests.reconciliation.conftest import in_process_runs  # noqa: F401
from tests.reconciliation.test_runs import PARTY, http, pay, run_today  # noqa: F401

QUEUE = "/console/discrepancies/"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class _Finder(HTMLParser):
    """The text inside the first element carrying a data-testid."""

    def __init__(self, testid: str):
        super().__init__()
        self.testid, self.depth, self.found, self.text = testid, 0, False, []

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += tag not in VOID
        elif not self.found and dict(attrs).get("data-testid") == self.testid:
            self.found, self.depth = True, int(tag not in VOID)

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth:
            self.text.append(data)


def part(response, testid: str) -> str | None:
    """The words of the page element with this data-testid, or None when it is not there."""
    finder = _Finder(testid)
    finder.feed(response.content.decode())
    return " ".join(" ".join(finder.text).split()) if finder.found else None


def rows(response) -> set[str]:
    queue = response.content.decode().split('data-testid="discrepancy-queue"')[1]
    ids = {int(chunk.split('"')[0]) for chunk in queue.split('data-testid="discrepancy-')[1:]}
    return {Discrepancy.objects.get(pk=pk).key for pk in ids}


def in_english(client):
    client.cookies["django_language"] = "en"
    return client


# The queue, with items made directly: one per filter's distinction --------------------------


@pytest.fixture
def queue_items(department):
    today = timezone.localdate()
    other_department = make_department("GA01", "市公安局")
    old = ReconciliationRun.objects.create(
        business_date=today - timedelta(days=40), party="alipay", party_kind=PartyKind.PROCESSOR
    )
    recent = ReconciliationRun.objects.create(
        business_date=today - timedelta(days=1),
        party="public_platform",
        party_kind=PartyKind.PROCESSOR,
    )
    clerk_user = make_staff("clerk")
    approver_user = make_staff("approver")

    def item(key, run, type_, dept, status="open", assignee=None, **fields):
        return Discrepancy.objects.create(
            run=run,
            business_date=run.business_date,
            party=run.party,
            type=type_,
            key=key,
            kind="payment",
            department=dept,
            our_ref=f"pay_{key}",
            our_amount=3000,
            their_amount=2900,
            owner="finance",
            status=status,
            assignee=assignee,
            **fields,
        )

    item("old-open", old, "missing_in_channel", department)
    item("recent-assigned", recent, "amount_mismatch", other_department, "assigned", clerk_user)
    item("old-resolved", old, "duplicate", department, "resolved")
    item(
        "recent-proposed",
        recent,
        "fee_mismatch",
        department,
        "proposed",
        approver_user,
        proposed_by="user:clerk",
        proposal={"action": "no_action", "note": "fee agreed", "amount": 0},
    )
    return {
        "old": old,
        "recent": recent,
        "clerk": logged_in(clerk_user),
        "other_department": other_department,
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"old-open", "recent-assigned", "recent-proposed"}),
        ({"status": "all"}, {"old-open", "recent-assigned", "old-resolved", "recent-proposed"}),
        ({"status": "resolved"}, {"old-resolved"}),
        ({"type": "amount_mismatch"}, {"recent-assigned"}),
        ({"party": "alipay"}, {"old-open"}),
        ({"department": "GA01"}, {"recent-assigned"}),
        ({"older_than": "30"}, {"old-open"}),
        ({"older_than": "0"}, {"old-open", "recent-assigned", "recent-proposed"}),
        ({"business_date": "recent"}, {"recent-assigned", "recent-proposed"}),
        ({"run": "old", "status": "all"}, {"old-open", "old-resolved"}),
        ({"assignee": "me"}, {"recent-assigned"}),
        ({"assignee": "unassigned"}, {"old-open"}),
        ({"assignee": "anyone", "type": "fee_mismatch"}, {"recent-proposed"}),
        ({"party": "public_platform", "department": "SCJG01"}, {"recent-proposed"}),
    ],
)
def test_each_filter_narrows_the_queue(queue_items, query, expected):
    if query.get("business_date") == "recent":
        query["business_date"] = queue_items["recent"].business_date.isoformat()
    if query.get("run") == "old":
        query["run"] = str(queue_items["old"].pk)

    answer = queue_items["clerk"].get(QUEUE, query)

    assert answer.status_code == 200
    assert rows(answer) == expected


def test_a_row_shows_the_difference_and_the_age_and_links_to_the_detail(queue_items):
    item = Discrepancy.objects.get(key="old-open")
    answer = queue_items["clerk"].get(QUEUE)

    row = part(answer, f"discrepancy-{item.pk}")
    assert row.split() == [
        item.business_date.isoformat(),
        "支付宝",
        "对方无记录",
        "pay_old-open",
        "—",
        "30.00",
        "29.00",
        "1.00",
        "SCJG01",
        "待处理",
        "—",
        "40",
    ]
    assert f'href="/console/discrepancies/{item.pk}/"' in answer.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        {"type": "nonsense"},
        {"status": "closed"},
        {"department": "NOPE"},
        {"party": "nobody"},
        {"older_than": "-1"},
        {"older_than": "soon"},
        {"business_date": "2026-02-30"},
        {"run": "0"},
        {"run": "last"},
        {"assignee": "someone"},
        {"page": "0"},
    ],
)
def test_a_bad_filter_is_a_400_page(queue_items, query):
    answer = queue_items["clerk"].get(QUEUE, query)
    assert answer.status_code == 400
    assert answer["Content-Type"].startswith("text/html")


def test_pages_hold_fifty_and_their_links_keep_the_filters(queue_items):
    Discrepancy.objects.bulk_create(
        Discrepancy(
            run=queue_items["old"],
            business_date=queue_items["old"].business_date,
            party="alipay",
            type="fee_mismatch",
            key=f"fee-{n}",
            owner="finance",
        )
        for n in range(51)
    )
    clerk = queue_items["clerk"]

    first = clerk.get(QUEUE, {"type": "fee_mismatch", "party": "alipay"})

    assert len(rows(first)) == 50
    html = first.content.decode()
    next_link = html.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert next_link.replace("&amp;", "&") == "?type=fee_mismatch&party=alipay&page=2"
    second = clerk.get(QUEUE + next_link.replace("&amp;", "&"))
    assert len(rows(second)) == 1


def test_scoped_staff_see_their_departments_only(queue_items):
    scoped = logged_in(make_staff("gongan", queue_items["other_department"]))
    mine = Discrepancy.objects.get(key="recent-assigned")
    theirs = Discrepancy.objects.get(key="old-open")

    queue = scoped.get(QUEUE, {"status": "all"})

    assert rows(queue) == {"recent-assigned"}
    html = queue.content.decode()
    assert 'value="GA01"' in html and 'value="SCJG01"' not in html
    assert scoped.get(QUEUE, {"department": "SCJG01"}).status_code == 400
    assert scoped.get(f"{QUEUE}{mine.pk}/").status_code == 200
    assert scoped.get(f"{QUEUE}{theirs.pk}/").status_code == 404
    refused = scoped.post(f"{QUEUE}{theirs.pk}/comment/", {"text": "not mine"})
    assert refused.status_code == 404
    assert not DiscrepancyComment.objects.exists()


def test_an_unknown_or_absurd_id_is_a_404(queue_items):
    clerk = queue_items["clerk"]
    assert clerk.get(f"{QUEUE}999999/").status_code == 404
    assert clerk.get(f"{QUEUE}{10**30}/").status_code == 404
    assert clerk.post(f"{QUEUE}{10**30}/comment/", {"text": "x"}).status_code == 404


# Our side on the other legs: an order named by its payment code, a clearing by its key ------


def test_a_revenue_item_shows_the_order_its_payment_code_names(
    department,
    portal,  # noqa: F811 - the fixture imported above
    fixed_fee,
):
    order = create_order(portal)
    run = ReconciliationRun.objects.create(
        business_date=date(2026, 11, 25), party="revenue:hz", party_kind=PartyKind.REVENUE
    )
    item = Discrepancy.objects.create(
        run=run,
        business_date=run.business_date,
        party=run.party,
        type="revenue_mismatch",
        key=f"revenue_mismatch:payment:{order['payment_code']}",
        kind="payment",
        department=department,
        our_ref=order["payment_code"],
        our_amount=3000,
        owner="finance",
    )

    page = logged_in(make_staff("clerk")).get(f"{QUEUE}{item.pk}/")

    assert order["payment_code"] in part(page, "our-side")
    assert "未缴款" in part(page, "our-side")
    assert order["id"] in part(page, "payment-order")
    assert "缴款单 · 创建" in part(page, "audit-trail")
    assert part(page, "discrepancy-department") == "SCJG01 市市场监督管理局"


def test_an_item_the_party_named_no_department_for_shows_its_orders(
    department,
    portal,  # noqa: F811 - the fixture imported above
    fixed_fee,
):
    order = create_order(portal)
    run = ReconciliationRun.objects.create(
        business_date=date(2026, 11, 25), party="revenue:hz", party_kind=PartyKind.REVENUE
    )
    item = Discrepancy.objects.create(
        run=run,
        business_date=run.business_date,
        party=run.party,
        type="revenue_mismatch",
        key=f"revenue_mismatch:payment:{order['payment_code']}",
        kind="payment",
        our_ref=order["payment_code"],
        our_amount=3000,
        owner="finance",
    )

    clerk = logged_in(make_staff("clerk"))

    assert part(clerk.get(f"{QUEUE}{item.pk}/"), "discrepancy-department") == (
        "SCJG01 市市场监督管理局"
    )
    item.our_ref = "00000000000000000000"  # no order of ours: nothing to name one by
    item.save()
    assert part(clerk.get(f"{QUEUE}{item.pk}/"), "discrepancy-department") == "—"


def test_a_bank_item_shows_the_clearing_it_expected(department):
    Clearing.objects.create(
        business_date=date(2026, 11, 25),
        processor="alipay",
        department=department,
        settlement_date=date(2026, 11, 26),
        payments_count=2,
        payments_amount=6000,
        refunds_amount=0,
        fees_amount=36,
        net_amount=5964,
    )
    party = "bank:icbc:1202020209000012345"
    run = ReconciliationRun.objects.create(
        business_date=date(2026, 11, 26), party=party, party_kind=PartyKind.BANK
    )
    item = Discrepancy.objects.create(
        run=run,
        business_date=run.business_date,
        party=party,
        type="settlement_mismatch",
        key="settlement_mismatch:alipay:SCJG01:1202020209000012345:2026-11-26",
        kind="settlement",
        department=department,
        our_ref="alipay:SCJG01:2026-11-26",
        our_amount=5964,
        owner="treasury",
    )

    page = logged_in(make_staff("treasurer")).get(f"{QUEUE}{item.pk}/")

    ours = part(page, "our-side")
    assert "59.64" in ours and "2026-11-25" in ours and "处理中" in ours


# Who is offered which step, and who is refused ----------------------------------------------


def test_an_auditor_reads_sees_no_forms_and_is_refused_every_step(queue_items):
    auditor = logged_in(make_staff("auditor", group=AUDITOR_GROUP))
    open_item = Discrepancy.objects.get(key="old-open")
    proposed = Discrepancy.objects.get(key="recent-proposed")

    for item in (open_item, proposed):
        page = auditor.get(f"{QUEUE}{item.pk}/")
        assert page.status_code == 200
        for form in ("assign-form", "comment-form", "propose-form", "reject-form"):
            assert part(page, form) is None
        assert part(page, "approve-button") is None

    steps = {
        "assign": {"assignee": "clerk"},
        "comment": {"text": "looked"},
        "propose": {"action": "no_action", "note": "fine"},
    }
    for step, body in steps.items():
        assert auditor.post(f"{QUEUE}{open_item.pk}/{step}/", body).status_code == 403
    assert auditor.post(f"{QUEUE}{proposed.pk}/approve/").status_code == 403
    assert auditor.post(f"{QUEUE}{proposed.pk}/reject/", {"reason": "no"}).status_code == 403
    assert not AuditRecord.objects.filter(object_type="Discrepancy").exists()
    assert Discrepancy.objects.get(pk=proposed.pk).status == "proposed"


def test_forms_follow_the_status_and_the_proposer_is_not_offered_the_approval(queue_items):
    clerk = queue_items["clerk"]
    approver = logged_in(Discrepancy.objects.get(key="recent-proposed").assignee)
    open_item = Discrepancy.objects.get(key="old-open")
    proposed = Discrepancy.objects.get(key="recent-proposed")
    resolved = Discrepancy.objects.get(key="old-resolved")

    open_page = clerk.get(f"{QUEUE}{open_item.pk}/")
    assert all(part(open_page, f) is not None for f in ("assign-form", "propose-form"))
    assert part(open_page, "approve-button") is None and part(open_page, "reject-form") is None
    assert "clerk" in part(open_page, "assign-form") and "approver" in part(
        open_page, "assign-form"
    )

    by_proposer = clerk.get(f"{QUEUE}{proposed.pk}/")
    assert part(by_proposer, "approve-button") is None and part(by_proposer, "reject-form") is None
    assert part(by_proposer, "propose-form") is None
    assert "fee agreed" in part(by_proposer, "proposal")

    second = approver.get(f"{QUEUE}{proposed.pk}/")
    assert part(second, "approve-button") is not None and part(second, "reject-form") is not None

    done = clerk.get(f"{QUEUE}{resolved.pk}/")
    assert part(done, "assign-form") is None and part(done, "propose-form") is None
    assert part(done, "comment-form") is not None  # a note may follow a resolution


def test_a_second_person_rejects_with_a_reason_and_the_item_goes_back(queue_items):
    proposed = Discrepancy.objects.get(key="recent-proposed")
    approver = logged_in(proposed.assignee)

    answer = approver.post(f"{QUEUE}{proposed.pk}/reject/", {"reason": "show the fee contract"})

    assert (answer.status_code, answer["Location"]) == (303, f"{QUEUE}{proposed.pk}/")
    assert Discrepancy.objects.get(pk=proposed.pk).status == "assigned"
    record = AuditRecord.objects.get(action="discrepancy.rejected")
    assert (record.actor, record.reason) == ("user:approver", "show the fee contract")
    assert "show the fee contract" in part(approver.get(answer["Location"]), "audit-trail")


@pytest.mark.parametrize("amount", ["12.345", "abc", "-1", "0", "0.00", "1e3", "1,000", ""])
def test_a_bad_amount_is_refused_with_a_message_and_changes_nothing(queue_items, amount):
    item = Discrepancy.objects.get(key="old-open")
    clerk = in_english(queue_items["clerk"])
    proposal = {
        "action": "write_off",
        "note": "written off",
        "amount": amount,
        "debit_account": "payable:SCJG01",
        "credit_account": "clearing:alipay",
    }

    answer = clerk.post(f"{QUEUE}{item.pk}/propose/", proposal, follow=True)

    assert answer.redirect_chain == [(f"{QUEUE}{item.pk}/", 303)]
    assert "Amount (yuan)" in answer.content.decode()
    item.refresh_from_db()
    assert (item.status, item.proposal) == ("open", {})
    assert not AuditRecord.objects.filter(action="discrepancy.proposed").exists()


def test_an_amount_in_yuan_is_proposed_exactly_in_fen(queue_items):
    ledger.department_payable_account("SCJG01")
    ledger.clearing_account("alipay")
    item = Discrepancy.objects.get(key="old-open")
    proposal = {
        "action": "write_off",
        "note": "written off",
        "amount": "12.34",
        "debit_account": "payable:SCJG01",
        "credit_account": "clearing:alipay",
    }

    queue_items["clerk"].post(f"{QUEUE}{item.pk}/propose/", proposal)

    item.refresh_from_db()
    assert (item.status, item.proposal["amount"], item.proposed_by) == (
        "proposed",
        1234,
        "user:clerk",
    )


# A real run's item: our payment beside the platform's bill, resolved by two people -----------


def _bill_with_amount_lowered(content: bytes, attempt_id: str, by: int) -> bytes:
    """The platform's bill with one payment's amount (and the #total line) lowered."""
    lines = content.decode().splitlines()
    header = lines[0].split(",")
    amount, out_trade_no = header.index("amount_fen"), header.index("out_trade_no")
    for number, line in enumerate(lines[1:], start=1):
        fields = line.split(",")
        if fields[0] == "#total":
            fields[2] = str(int(fields[2]) - by)
        elif fields[out_trade_no] == attempt_id:
            fields[amount] = str(int(fields[amount]) - by)
        lines[number] = ",".join(fields)
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def mismatched(http):  # noqa: F811 - the fixture imported above
    """A payment the platform's (uploaded, corrected) bill says was 1.00 yuan less."""
    paid = pay(http)
    fetched = run_today()
    statement_store(
        party=parse_party(PARTY),
        business_date=fetched.business_date,
        content=_bill_with_amount_lowered(bytes(fetched.statement.content), paid["id"], 100),
        source=StatementFile.Source.UPLOADED,
        filename="platform-bill-corrected.csv",
        actor="user:clerk",
    )
    run = run_today()
    return Discrepancy.objects.get(run=run, type="amount_mismatch"), paid


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("in_process_runs")
def test_the_detail_shows_both_sides_and_the_orders_history(mismatched, clerk):
    item, paid = mismatched

    page = clerk.get(f"{QUEUE}{item.pk}/")

    assert page.status_code == 200
    ours, theirs = part(page, "our-side"), part(page, "their-side")
    assert paid["id"] in ours and "30.00" in ours and "成功" in ours
    assert "29.00" in theirs and "platform-bill-corrected.csv" in theirs
    assert paid["id"] in part(page, "their-lines")
    assert paid["id"] in part(page, "order-attempts")
    assert "已处理" in part(page, "notifications")
    postings = part(page, "ledger-postings")
    assert "统一公共支付平台清算款" in postings and "应付执收单位 SCJG01" in postings
    assert "缴款" in postings and "payment" not in postings
    trail = part(page, "audit-trail")
    assert "缴款单 · 已缴款" in trail and "支付请求 · 成功" in trail
    assert "PaymentOrder" not in trail and "payment_order" not in trail
    assert part(page, "discrepancy-department") == "SCJG01 市市场监督管理局"
    html = page.content.decode()
    assert "张*" in html and "张三" not in html
    assert NATURAL_ID not in html and "13800138000" not in html


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("in_process_runs")
def test_four_eyes_assign_comment_propose_then_another_person_approves(mismatched, clerk, approver):
    item, _ = mismatched
    page = f"{QUEUE}{item.pk}/"
    write_off = {
        "action": "write_off",
        "note": "平台少记1元，核销",
        "amount": "1.00",
        "debit_account": "payable:SCJG01",
        "credit_account": "clearing:public_platform",
    }

    for step, body in [
        ("assign", {"assignee": "clerk"}),
        ("comment", {"text": "查询平台流水"}),
        ("propose", write_off),
    ]:
        answer = clerk.post(f"{page}{step}/", body)
        assert (answer.status_code, answer["Location"]) == (303, page)
    proposed = clerk.get(page)
    assert part(proposed, "discrepancy-status") == "待复核"
    assert "查询平台流水" in part(proposed, "comments")
    proposal = part(proposed, "proposal")
    assert "1.00" in proposal and "核销差额" in proposal and "clerk" in proposal
    assert "write_off" not in proposal and "user:" not in proposal

    own = clerk.post(f"{page}approve/", follow=True)

    assert "须由另一人审批：提出方案的人不能审批自己的方案。" in own.content.decode()
    assert part(own, "discrepancy-status") == "待复核"
    assert not LedgerPosting.objects.filter(kind="adjustment").exists()

    approved = approver.post(f"{page}approve/", follow=True)

    assert part(approved, "discrepancy-status") == "已处理"
    assert 'data-status="resolved"' in approved.content.decode()
    posting = LedgerPosting.objects.get(kind="adjustment", reference=f"discrepancy:{item.pk}")
    entries = {(e.account.code, e.debit, e.credit) for e in posting.entries.all()}
    assert entries == {("payable:SCJG01", 100, 0), ("clearing:public_platform", 0, 100)}
    assert f"discrepancy:{item.pk}" in part(approved, "ledger-postings")
    resolution = part(approved, "discrepancy-resolution")
    assert resolution.startswith("通过调账核销差额") and "平台少记1元，核销" in resolution
    assert "write_off" not in resolution and "approver" in resolution
    trail = part(approved, "audit-trail")
    for action in ("分派", "添加备注", "待复核", "批准"):
        assert f"差错 · {action}" in trail
    assert trail.index("差错 · 批准") < trail.index("差错 · 分派")  # newest first
    html = approved.content.decode()
    assert 'data-action="discrepancy.approved"' in html
