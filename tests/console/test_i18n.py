"""Chinese by default, English on request: the console's words and the models' status labels,
and a catalogue that leaves none of them untranslated."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.utils import timezone, translation
from django.utils.functional import Promise

from reconciliation.models import (
    Clearing,
    Discrepancy,
    DiscrepancyType,
    PartyKind,
    ReconciliationRun,
    RunStatus,
)
from tests.billing.test_revenue_push import emit, paid_order

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
LABELLED_APPS = ("billing", "logistics", "reconciliation")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")
TOKEN = re.compile(r"[A-Za-z0-9][\w.:/@-]*")
PUBLIC_ID = re.compile(r"[a-z]+_[a-z2-7]{24}")  # billing.models.ids: a prefix, 24 base32
FORMAT_NAMES = {"xlsx"}  # file formats known by their lower-case names


class _Text(HTMLParser):
    """What a person reads on the page: text outside tags, scripts and styles; with
    ``translatable_only``, also outside the elements marked ``translate="no"`` (what people
    and outside parties wrote: names, references, notes, errors)."""

    def __init__(self, *, translatable_only: bool = False):
        super().__init__()
        self.words, self.hidden = [], 0
        self.translatable_only = translatable_only
        self.kept_tag, self.kept_depth = "", 0  # the element marked translate="no" we are in

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("script", "style")
        if self.kept_depth:
            self.kept_depth += tag == self.kept_tag
        elif self.translatable_only and ("translate", "no") in attrs:
            self.kept_tag, self.kept_depth = tag, 1

    def handle_endtag(self, tag):
        self.hidden -= tag in ("script", "style") and self.hidden > 0
        self.kept_depth -= tag == self.kept_tag and self.kept_depth > 0

    def handle_data(self, data):
        if not self.hidden and not self.kept_depth:
            self.words.append(data)


def text_of(page: str, *, translatable_only: bool = False) -> str:
    parser = _Text(translatable_only=translatable_only)
    parser.feed(page)
    return " ".join(" ".join(parser.words).split())


def foreign_words(text: str, *, language: str) -> list[str]:
    """Codes in snake_case, and in a Chinese text English words, that a page says itself.

    Identifiers (public ids, or with a digit) and acronyms or codes in capitals are left alone.
    """
    found = set()
    for token in TOKEN.findall(text):
        token = token.strip(".:/-")
        if any(c.isdigit() for c in token) or token.isupper() or token in FORMAT_NAMES:
            continue
        if PUBLIC_ID.fullmatch(token):
            continue
        if "_" in token or (language != "en" and any(c.isalpha() for c in token)):
            found.add(token)
    return sorted(found)


def labels_of(page: str, code: str) -> set[str]:
    """The words shown in the elements that carry ``data-status`` = code."""
    shown = re.findall(rf'data-status="{re.escape(code)}"[^>]*>([^<]*)<', page)
    return {label.strip() for label in shown if label.strip()}


@pytest.fixture
def urls(clerk, department) -> dict[str, str]:
    """One of each page, with a succeeded run, an open discrepancy, an arrived clearing,
    a paid order and its revenue record failed for want of a revenue system."""
    day = timezone.localdate() - timedelta(days=1)
    run = ReconciliationRun.objects.create(
        business_date=day,
        party="public_platform",
        party_kind=PartyKind.PROCESSOR,
        status=RunStatus.SUCCEEDED,
    )
    item = Discrepancy.objects.create(
        run=run,
        business_date=day,
        party=run.party,
        type=DiscrepancyType.MISSING_IN_CHANNEL,
        key="i18n",
        kind="payment",
        department=department,
        our_ref="pay_i18n",
        our_amount=1500,
        owner="finance",
    )
    Clearing.objects.create(
        business_date=day,
        processor="public_platform",
        department=department,
        settlement_date=day,
        payments_count=1,
        payments_amount=1500,
        refunds_amount=0,
        fees_amount=0,
        net_amount=1500,
        arrival=Clearing.Arrival.ARRIVED,
    )
    emit(paid_order(department))
    return {
        "morning": f"/console/?date={day.isoformat()}",
        "runs": "/console/runs/",
        "queue": "/console/discrepancies/",
        "detail": f"/console/discrepancies/{item.pk}/",
        "orders": "/console/orders/",
        "processors": "/console/processors/",
        "backlogs": "/console/backlogs/",
    }


# (page, status code on it, its Chinese label, its English label, a Chinese word, its English)
SHOWN = [
    ("morning", "succeeded", "成功", "succeeded", "对方无记录", "missing in channel"),
    ("morning", "arrived", "已到账", "arrived", "按执收单位清分", "Clearing by department"),
    ("runs", "succeeded", "成功", "succeeded", "支付渠道", "processor"),
    ("queue", "open", "待处理", "open", "对方无记录", "missing in channel"),
    ("detail", "open", "待处理", "open", "我方记录", "Our side"),
    ("orders", "paid", "已缴款", "paid", "缴款单", "Payment orders"),
    ("processors", "active", "正常", "active", "熔断", "Circuit breaker"),
    ("backlogs", "failed", "失败", "failed", "收入征管系统", "Revenue system"),
]


@pytest.mark.parametrize(("page", "code", "chinese", "english", "word", "word_en"), SHOWN)
def test_without_a_choice_pages_speak_chinese(
    clerk, urls, page, code, chinese, english, word, word_en
):
    answer = clerk.get(urls[page])
    assert answer.status_code == 200
    html = answer.content.decode()

    assert labels_of(html, code) == {chinese}
    shown = text_of(html)
    assert word in shown
    assert word_en not in shown


@pytest.mark.parametrize(("page", "code", "chinese", "english", "word", "word_en"), SHOWN)
def test_the_language_cookie_switches_pages_to_english(
    clerk, urls, page, code, chinese, english, word, word_en
):
    clerk.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    answer = clerk.get(urls[page])
    assert answer.status_code == 200
    html = answer.content.decode()

    assert labels_of(html, code) == {english}
    shown = text_of(html)
    assert word_en in shown
    assert word not in shown


@pytest.mark.parametrize("page", ["morning", "runs", "queue", "detail", "orders", "backlogs"])
def test_a_chinese_page_shows_no_code_nor_english_word_of_its_own(clerk, urls, page):
    html = clerk.get(urls[page]).content.decode()

    assert foreign_words(text_of(html, translatable_only=True), language="zh-hans") == []


def test_what_people_and_outside_parties_wrote_is_left_out_of_the_words_to_translate():
    page = (
        '<p>缴款 <span translate="no">user <b>li.na</b> <span>said</span> ok</span> 已完成'
        "<br><em>done</em></p><script>var x_y = 1;</script>"
    )

    assert text_of(page) == "缴款 user li.na said ok 已完成 done"
    assert text_of(page, translatable_only=True) == "缴款 已完成 done"
    said = "缴款 已完成 done payment_order CNY SHA-256 po_1a shp_jwkbuuzfanswonzqtqzceaoh xlsx"
    assert foreign_words(said, language="zh-hans") == ["done", "payment_order"]
    assert foreign_words("Payment order · done payment_order", language="en") == ["payment_order"]


def test_the_raw_codes_stay_in_the_attributes(clerk, urls):
    html = clerk.get(urls["queue"]).content.decode()

    assert 'data-status="open"' in html
    assert 'data-type="missing_in_channel"' in html
    assert "missing_in_channel" not in text_of(html)


# The catalogue ------------------------------------------------------------------------------


def catalogue_entries() -> list[dict]:
    """Each entry of the .po: its references, flags, msgid and msgstr(s), continuations joined."""
    entries = []
    for block in CATALOGUE.read_text(encoding="utf-8").split("\n\n"):
        entry = {"refs": [], "flags": [], "msgid": "", "msgstr": []}
        field = None
        for line in block.strip().splitlines():
            if line.startswith("#:"):
                entry["refs"] += [ref.rsplit(":", 1)[0] for ref in line[2:].split()]
            elif line.startswith("#,"):
                entry["flags"] += [flag.strip() for flag in line[2:].split(",")]
            elif line.startswith(("msgid ", "msgid_plural ", "msgstr")):
                field, _, quoted = line.partition(" ")
                if field.startswith("msgstr"):
                    entry["msgstr"].append("")
                entry.setdefault(field, "")
                _append(entry, field, quoted)
            elif line.startswith('"') and field:
                _append(entry, field, line)
        if entry["msgid"]:
            entries.append(entry)
    return entries


def _append(entry: dict, field: str, quoted: str) -> None:
    text = quoted[1:-1].replace('\\"', '"').replace("\\n", "\n")
    if field.startswith("msgstr"):
        entry["msgstr"][-1] += text
    else:
        entry[field] += text


def ours(entry: dict) -> bool:
    return any(ref.startswith("console/") or "/models" in ref for ref in entry["refs"])


def test_the_catalogue_translates_every_console_and_model_label():
    entries = [entry for entry in catalogue_entries() if ours(entry)]

    assert len(entries) > 300
    untranslated = [e["msgid"] for e in entries if not all(e["msgstr"]) or not e["msgstr"]]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    assert (untranslated, fuzzy) == ([], [])
    for entry in entries:
        for translation_ in entry["msgstr"]:
            assert sorted(PLACEHOLDER.findall(translation_)) == sorted(
                PLACEHOLDER.findall(entry["msgid"])
            ), entry["msgid"]


def test_the_catalogue_has_no_fuzzy_header_or_entry():
    assert "fuzzy" not in CATALOGUE.read_text(encoding="utf-8")


def choice_labels() -> list[Promise]:
    labels = []
    for app in LABELLED_APPS:
        for model in apps.get_app_config(app).get_models():
            for field in model._meta.get_fields():
                for _value, label in getattr(field, "choices", None) or []:
                    if isinstance(label, Promise):
                        labels.append(label)
    return labels


def test_every_translatable_choice_label_has_a_chinese_translation_compiled():
    labels = choice_labels()
    assert len(labels) > 50
    with translation.override("en"):
        english = [str(label) for label in labels]
    with translation.override("zh-hans"):
        chinese = [str(label) for label in labels]

    same = [en for en, zh in zip(english, chinese, strict=True) if en == zh]
    assert same == []
