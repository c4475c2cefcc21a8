"""The performance targets, the figures each benchmark records for them, and the table
`make bench` ends with.

Each script records its headline figures with ``record`` (a JSON file per script under
``var/bench-results/``, replaced by its next run); ``python bench/results.py`` prints
every target with the figure measured, the baseline measured in the same run, and
whether the target is met. A target whose script has not run since is shown as such.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "var" / "bench-results"


def record(script: str, figures: dict) -> None:
    """Replace ``script``'s recorded figures (plain JSON: numbers, strings, lists, dicts)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{script}.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")


def recorded(script: str) -> dict | None:
    path = RESULTS / f"{script}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


@dataclass(frozen=True)
class Row:
    path: str
    measured: str
    baseline: str
    target: str
    met: bool | None  # None: not measured


def _baselines(figures: dict, rate: float) -> str:
    """The bare DRF insert's rate, and the plain Django view's with the ratio to it."""
    django = figures["django_baseline_rate"]
    return (
        f"bare DRF insert {figures['baseline_rate']:.0f}/s (plain Django view {django:.0f}/s: "
        f"{rate / django:.2f})"
    )


def _orders(figures: dict) -> list[Row]:
    ratio = figures["rate"] / figures["baseline_rate"]
    return [
        Row(
            "order create vs the bare one-insert DRF endpoint",
            f"{ratio:.2f} ({figures['rate']:.0f}/s, {figures['statements']} SQL statements)",
            _baselines(figures, figures["rate"]),
            "≥ 0.35; ≤ 6 statements",
            ratio >= 0.35 and figures["statements"] <= 6,
        ),
        _p99_row("order create", figures["p99_ms"]),
    ]


def _notifications(figures: dict) -> list[Row]:
    baseline = figures["baseline_rate"]
    return _per_channel(
        figures,
        "notification verified and applied",
        lambda each: f"{each['rate'] / baseline:.2f} ({each['rate']:.0f}/s)",
        "≥ 0.25",
        lambda each: each["rate"] / baseline >= 0.25,
    )


def _attempts(figures: dict) -> list[Row]:
    return _per_channel(
        figures,
        "route and open an attempt",
        lambda each: f"{each['rate']:.0f}/s",
        "≥ 100/s",
        lambda each: each["rate"] >= 100,
    )


def _per_channel(
    figures: dict,
    path: str,
    measured: Callable[[dict], str],
    target: str,
    met: Callable[[dict], bool],
) -> list[Row]:
    """A row per channel, and one for its p99; the baseline is the bare DRF insert's when
    the run measured both (a ratio is the target), else the plain Django view's."""
    rows = []
    for channel, each in figures["channels"].items():
        baseline = (
            _baselines(figures, each["rate"])
            if "django_baseline_rate" in figures
            else f"bare insert {figures['baseline_rate']:.0f}/s"
        )
        rows.append(Row(f"{path}: {channel}", measured(each), baseline, target, met(each)))
        rows.append(_p99_row(f"{path}: {channel}", each["p99_ms"]))
    return rows


def _p99_row(what: str, p99_ms: float) -> Row:
    return Row(f"p99 at 16 clients: {what}", f"{p99_ms:.0f} ms", "", "< 150 ms", p99_ms < 150)


def _courier_pushes(figures: dict) -> list[Row]:
    rows = []
    for courier, each in figures["couriers"].items():
        rows.append(
            Row(
                f"courier pushes stored and answered: {courier}",
                f"{each['ingest_rate']:.0f}/s",
                f"bare insert {figures['baseline_rate']:.0f}/s",
                "≥ 1,000/s",
                each["ingest_rate"] >= 1000,
            )
        )
        # The lag counts only at the rate offered: a server that cannot take it sends less.
        offered, sent = figures["offered_rate"], each["sent_rate"]
        rows.append(
            Row(
                f"push → applied lag at {offered:.0f} pushes/s offered: {courier}",
                f"p99 {each['lag_p99_s']:.2f} s at {sent:.0f}/s sent",
                "",
                "p99 < 2 s",
                each["lag_p99_s"] < 2 and sent >= 0.95 * offered,
            )
        )
    return rows


def _reconciliation(figures: dict) -> list[Row]:
    rows = []
    for size in figures["sizes"]:
        day = figures["days"][str(size)]
        seconds, gib = day["seconds"], day["peak_rss_gib"]
        if size == 1_000_000:
            rows.append(
                Row(
                    "reconciliation: a 1,000,000-payment day, files → results → xlsx",
                    f"{seconds:.1f} s, {gib:.2f} GiB",
                    "",
                    "< 20 s, < 1 GiB",
                    seconds < 20 and gib < 1,
                )
            )
            floor = day["floor_seconds"]
            ratio = day["leg1_seconds"] / floor
            rows.append(
                Row(
                    "one processor's leg-1 run vs a bare DuckDB full outer join",
                    f"{ratio:.1f}×",
                    f"DuckDB {floor * 1000:.0f} ms",
                    "≤ 10×",
                    ratio <= 10,
                )
            )
        if size == 10_000_000:
            # Linear in the measuring process's CPU: the wall time of the two days, minutes
            # apart on a shared machine, moves with its load.
            smaller = figures["days"].get("1000000")
            growth = cpu_growth = None
            if smaller:
                growth = seconds / smaller["seconds"]
                cpu_growth = day["cpu_seconds"] / smaller["cpu_seconds"]
            rows.append(
                Row(
                    "a 10,000,000-payment day",
                    f"{seconds:.0f} s, {gib:.2f} GiB"
                    + (
                        f", ×{growth:.1f} the 1M day's time, ×{cpu_growth:.1f} its CPU"
                        if smaller
                        else ""
                    ),
                    "",
                    "< 5 min, < 4 GiB, linear (CPU ≤ ×12)",
                    seconds < 300 and gib < 4 and (cpu_growth is None or cpu_growth <= 12),
                )
            )
    if 10_000_000 not in figures["sizes"]:
        rows.append(
            Row(
                "a 10,000,000-payment day",
                "not measured in this run (reconciliation.py --sizes 1000000,10000000)",
                "",
                "< 5 min, < 4 GiB, linear",
                None,
            )
        )
    return rows


def _signatures(figures: dict) -> list[Row]:
    """SM2 sign and verify in CPU µs, with RSA2's from the same run and the ratios."""
    sm2, rsa2 = figures["sm2"], figures["rsa2"]
    sign, verify = sm2["sign_us"], sm2["verify_us"]
    return [
        Row(
            "SM2 vs RSA2 sign/verify (CPU per operation)",
            f"SM2 sign {sign:.0f} µs, verify {verify:.0f} µs",
            f"RSA2 sign {rsa2['sign_us']:.0f} µs, verify {rsa2['verify_us']:.0f} µs "
            f"(SM2 ×{sign / rsa2['sign_us']:.2f}, ×{verify / rsa2['verify_us']:.1f})",
            "each < 500 µs",
            sign < 500 and verify < 500,
        )
    ]


ROWS: dict[str, Callable[[dict], list[Row]]] = {
    "order_creation": _orders,
    "notifications": _notifications,
    "attempt_creation": _attempts,
    "courier_pushes": _courier_pushes,
    "reconciliation": _reconciliation,
    "signatures": _signatures,
}


def table() -> list[Row]:
    rows = []
    for script, rows_of in ROWS.items():
        figures = recorded(script)
        if figures is None:
            rows.append(Row(f"bench/{script}.py", "not run", "", "", None))
        else:
            rows.extend(rows_of(figures))
    return rows


def main() -> int:
    rows = table()
    print("\n| path | measured | baseline, same run | target | met |")
    print("|---|---|---|---|---|")
    for row in rows:
        verdict = {True: "yes", False: "**no**", None: "—"}[row.met]
        print(f"| {row.path} | {row.measured} | {row.baseline} | {row.target} | {verdict} |")
    met = sum(1 for row in rows if row.met)
    print(f"\n{met} of {len(rows)} rows met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
