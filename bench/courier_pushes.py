"""How fast courier route pushes are taken in and applied, with a real Celery worker.

Per courier (sf, ems), setup: shipments recorded through the service and copied, each copy
booked by hand with a waybill number of this run, so no courier sandbox takes part. The
clients post one push per scan, signed as the courier signs it, to /notify/couriers/<code>/
push: four non-terminal scans per waybill (a terminal one makes the service query the
route), the second pushed twice, shuffled. The server stores each push and queues the apply
task on the local RabbitMQ for a Celery worker process, as `manage.py serve` runs one.
Closed loop (wrk over --clients connections, --shipments waybills): pushes ingested (answered
200) per second at full speed, side by side in --rounds rounds with the floor: as many POST
/bench/insert-one (one row) on the same server.
Open loop (wrk sending on a schedule over 64 connections): --rate pushes a second for
--seconds, and the received_at -> applied_at lag.
"""

from __future__ import annotations

import json
import logging
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from copy import copy
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import harness
import results

WORKER_LOG = harness.ROOT / "var" / "bench-worker.log"
APPLY_SECONDS = 900  # how long to wait for the worker to apply every push
# Each courier's non-terminal scans, in the order they happen: op code and words.
SCANS = {
    "sf": [("50", "顺丰速运 已收取快件"), ("30", "快件已发车"), ("31", "快件到达杭州中转场"),
           ("44", "快件交给派送员，正在派送途中")],
    "ems": [("203", "收寄"), ("306", "封发"), ("954", "到达处理中心"), ("702", "投递")],
}  # fmt: skip
PUSHES_PER_WAYBILL = len(SCANS["sf"]) + 1  # the second scan is pushed twice
FINAL_STATUS = "out_for_delivery"
OPEN_LOOP_CLIENTS = 64  # connections: enough that a slow answer never holds the next push back
# A path with its query, a body and headers.
Push = tuple[str, bytes, dict[str, str]]


def main() -> None:
    args = harness.arguments(
        __doc__,
        shipments=1200,
        concurrency=os.cpu_count() or 2,
        warmup=2,
        rate=500,
        seconds=10,
    )
    port = harness.free_port()
    harness.setup_django(port)  # this process runs tasks in-process: setup's no-op bookings
    harness.portal_key()  # loads the demo catalogue, whose departments ship
    for chatty in ("celery.app.trace", "kombu.connection"):  # about setup's in-process tasks
        logging.getLogger(chatty).setLevel(logging.ERROR)

    run = f"{int(time.time()) % 10**7:07d}"
    open_shipments = args.rate * args.seconds // PUSHES_PER_WAYBILL
    closed = {c: booked_waybills(c, args.shipments, f"{run}0") for c in SCANS}
    opened = {c: booked_waybills(c, open_shipments, f"{run}1") for c in SCANS}
    count = args.shipments * PUSHES_PER_WAYBILL
    vacuum()
    # The server and the worker, children of this process, use the broker on queues of their own.
    with (
        harness.queued_tasks() as queues,
        running_worker(args.concurrency, queues) as worker,
        harness.running_server(port, args.workers, args.threads) as server,
    ):
        url = server.url
        harness.replay(url, harness.bare_inserts(url, 250 * args.warmup), clients=args.clients)
        ingested, applied, floors = {}, {}, []
        for courier, numbers in closed.items():
            started, worker_cpu = time.time(), harness.tree_cpu_seconds(worker)
            measured = harness.interleaved(
                url,
                {
                    courier: as_wire(url, pushes(courier, numbers)),
                    "inserts": harness.bare_inserts(url, count),
                },
                rounds=args.rounds,
                clients=args.clients,
                servers={"server": server},
            )
            ingested[courier] = measured[courier]
            floors.append(measured["inserts"])
            applied[courier] = applied_lags(courier, started)
            ingested[courier].cpu_seconds["worker"] = harness.tree_cpu_seconds(worker) - worker_cpu
        floor = harness.Figures.combined(floors)
        offered = {}
        for courier, numbers in opened.items():
            started, worker_cpu = time.time(), harness.tree_cpu_seconds(worker)
            sent = harness.replay(
                url,
                as_wire(url, pushes(courier, numbers)),
                clients=OPEN_LOOP_CLIENTS,
                servers={"server": server},
                rate=args.rate,
            )
            offered[courier] = sent, applied_lags(courier, started)
            sent.cpu_seconds["worker"] = harness.tree_cpu_seconds(worker) - worker_cpu

    print(
        f"\n{harness.served_by(args)}, a Celery worker of {args.concurrency} processes\n"
        f"closed loop, {args.clients} clients, per courier {args.shipments} waybills x "
        f"{len(SCANS['sf'])} scans + 1 duplicate = {count} pushes"
    )
    for courier, measured in ingested.items():
        print(measured.line(f"/notify/couriers/{courier}/push", unit="pushes"))
    print(floor.line("POST /bench/insert-one", unit="inserts"))
    print(f"     {floor.cpu_line('insert')}")
    for courier, measured in ingested.items():
        seconds, lags = applied[courier]
        print(
            f"{courier:<4} ingested / floor {measured.per_second / floor.per_second:.2f}   "
            f"applied {len(lags) / seconds:6.1f} pushes/s, the last "
            f"{seconds - measured.seconds:.1f} s after the load ended   "
            f"{measured.cpu_line('push')}\n"
            f"     {end_state(courier, closed[courier])}"
        )
    print(
        f"\nopen loop, {args.rate} pushes/s offered for {args.seconds} s, per courier "
        f"{open_shipments} waybills = {open_shipments * PUSHES_PER_WAYBILL} pushes"
    )
    for courier, (measured, (seconds, lags)) in offered.items():
        cut = statistics.quantiles(lags, n=100, method="inclusive")
        print(
            f"{courier:<4} sent {measured.per_second:6.1f} pushes/s, answered p99 "
            f"{measured.percentile_ms(99):.0f} ms; all applied by {seconds:.1f} s\n"
            f"     lag received -> applied: p50 {cut[49]:.2f} s   p95 {cut[94]:.2f} s   "
            f"p99 {cut[98]:.2f} s   max {max(lags):.2f} s   {measured.cpu_line('push')}\n"
            f"     {end_state(courier, opened[courier])}"
        )
    results.record(
        "courier_pushes",
        {
            "clients": args.clients,
            "baseline_rate": floor.per_second,
            "offered_rate": args.rate,
            "couriers": {
                courier: {
                    "ingest_rate": ingested[courier].per_second,
                    "sent_rate": sent.per_second,
                    "lag_p99_s": statistics.quantiles(lags, n=100, method="inclusive")[98],
                }
                for courier, (sent, (_, lags)) in offered.items()
            },
        },
    )
    missing = {
        **{f"{c} closed loop": count - len(lags) for c, (_, lags) in applied.items()},
        **{
            f"{c} open loop": open_shipments * PUSHES_PER_WAYBILL - len(lags)
            for c, (_, (_, lags)) in offered.items()
        },
    }
    failed = [
        m for m in (floor, *ingested.values(), *(m for m, _ in offered.values())) if m.failures
    ]
    if failed or any(missing.values()):
        raise SystemExit(f"pushes not applied: {missing}; see var/bench-*.log")


def booked_waybills(courier: str, count: int, run: str) -> list[str]:
    """Record a shipment through the service, copy it ``count`` times, each copy booked by hand
    as the courier would have; return their waybill numbers (of this run, so unique)."""
    from django.db import transaction
    from django.utils import timezone

    from integrations.couriers.base import Address
    from logistics.models import Shipment
    from logistics.services.shipments import ItemInput, NewShipment, shipment_create

    agency = Address(
        "市市场监督管理局", "0571-87654321", "浙江省", "杭州市", "上城区", "解放东路18号"
    )
    applicant = Address("张三", "13800138000", "浙江省", "杭州市", "西湖区", "文三路90号", "330106")
    items = [ItemInput("certificate", "营业执照（正本）", "市市场监督管理局")]
    new = NewShipment(
        kind="result", case_number=f"BENCH-{run}", department="330100-SCJG",
        sender=agency, recipient=applicant, items=items, courier=courier,
        service_level="standard", deliver_by=timezone.now() + timedelta(days=3),
        freight_payer="agency", undeliverable_rule="return",
    )  # fmt: skip
    prefix = "SF" if courier == "sf" else "98"
    with transaction.atomic():  # its booking task, run on commit, then finds it booked
        shipment = shipment_create(client=None, new=new).shipment
        Shipment.objects.filter(pk=shipment.pk).update(
            waybill_no=f"{prefix}{run}", booked_at=timezone.now(), next_booking_at=None
        )
    recorded = Shipment.objects.get(pk=shipment.pk)
    public_id = Shipment._meta.get_field("public_id")
    numbers = [f"{prefix}{run}{index:05d}" for index in range(count)]
    copies = []
    for index, waybill_no in enumerate(numbers):
        shipment = copy(recorded)
        shipment.pk = None
        shipment.public_id = public_id.get_default()
        shipment.case_number = f"BENCH-{run}-{index}"
        shipment.waybill_no, shipment.booked_at, shipment.next_booking_at = (
            waybill_no, timezone.now(), None
        )  # fmt: skip
        copies.append(shipment)
    Shipment.objects.bulk_create(copies, batch_size=1000)
    return numbers


def vacuum() -> None:
    """What autovacuum does for a service in production, before the load: without it (it
    is off on some development servers) the dead rows every earlier run left behind are read
    again by each apply task, and the runs slow down one after another."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "VACUUM ANALYZE logistics_courierpush, logistics_shipment, logistics_trackingevent"
        )


def pushes(courier: str, waybills: list[str]) -> list[Push]:
    """Every scan of every waybill as the courier pushes it (the second scan twice), shuffled."""
    from core.money import BEIJING
    from integrations.couriers.sf.wire import TIME_FORMAT

    first = datetime.now(BEIJING) - timedelta(days=1)
    build = sf_push if courier == "sf" else ems_push
    sends = []
    for waybill_no in waybills:
        for step, (op_code, words) in enumerate(SCANS[courier]):
            at = (first + timedelta(hours=step)).strftime(TIME_FORMAT)
            push = build(f"/notify/couriers/{courier}/push", waybill_no, op_code, words, at)
            sends += [push, push] if step == 1 else [push]
    random.Random(0).shuffle(sends)
    return sends


def sf_push(path: str, waybill_no: str, op_code: str, words: str, at: str) -> Push:
    """SF's JSON WaybillRoute push; SF signs none: the URL carries the push token."""
    from django.conf import settings

    route = {"mailno": waybill_no, "id": uuid.uuid4().hex, "acceptTime": at,
             "acceptAddress": "杭州市", "remark": words, "opCode": op_code}  # fmt: skip
    body = json.dumps({"Body": {"WaybillRoute": [route]}}, ensure_ascii=False).encode()
    query = urlencode({"token": settings.SF_EXPRESS["push_token"]})
    return f"{path}?{query}", body, {"Content-Type": "application/json;charset=UTF-8"}


def ems_push(path: str, waybill_no: str, op_code: str, words: str, at: str) -> Push:
    """EMS's JSON push: the trace SM4-sealed in logitcsInterface with the sign key."""
    from django.conf import settings

    from integrations.couriers.ems.sealing import seal, sm4_key

    trace = {"waybillNo": waybill_no, "opCode": op_code, "opName": words, "opTime": at,
             "opOrgCode": "330001", "opOrgName": "杭州中心", "opDesc": f"已{words}"}  # fmt: skip
    content = json.dumps(trace, ensure_ascii=False, separators=(",", ":"))
    push = {"logitcsInterface": seal(content, sm4_key(settings.EMS["secret"])),
            "method": "040002", "msgType": "0", "senderNo": settings.EMS["sender_no"],
            "serialNo": uuid.uuid4().hex.upper(), "timeStamp": at, "version": "V1.0.0"}  # fmt: skip
    return path, json.dumps(push, ensure_ascii=False).encode(), {"Content-Type": "application/json"}


def as_wire(url: str, sends: list[Push]) -> list[bytes]:
    """The pushes as bytes for wrk (harness.replay)."""
    return [
        harness.raw_request(url, "POST", path, body=body, headers=headers)
        for path, body, headers in sends
    ]


def applied_lags(courier: str, started: float) -> tuple[float, list[float]]:
    """Once the worker has applied the pushes received since ``started`` (epoch), or waiting
    timed out: the seconds from ``started`` to the last applied_at, and each one's lag."""
    from logistics.models import CourierPush, PushStatus

    since = datetime.fromtimestamp(started, UTC)
    these = CourierPush.objects.filter(courier=courier, received_at__gte=since)
    deadline = time.monotonic() + APPLY_SECONDS
    while these.filter(status=PushStatus.RECEIVED).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    times = list(these.filter(status=PushStatus.APPLIED).values_list("received_at", "applied_at"))
    if not times:
        raise SystemExit(f"the worker applied no {courier} push; see {WORKER_LOG}")
    last = max(applied for _, applied in times).timestamp()
    return last - started, [(applied - received).total_seconds() for received, applied in times]


def end_state(courier: str, waybills: list[str]) -> str:
    from logistics.models import Shipment, TrackingEvent

    shipments = Shipment.objects.filter(courier=courier, waybill_no__in=waybills)
    events = TrackingEvent.objects.filter(shipment__in=shipments).count()
    behind = shipments.exclude(status=FINAL_STATUS).count()
    expected = len(waybills) * len(SCANS[courier])
    return f"events stored {events}/{expected}, shipments not {FINAL_STATUS}: {behind}"


@contextmanager
def running_worker(concurrency: int, queues: list[str]) -> Iterator[int]:
    """A Celery worker process as `manage.py serve` starts it (no beat) on ``queues``;
    yields its pid."""
    WORKER_LOG.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO",
               f"--concurrency={concurrency}", f"--queues={','.join(queues)}"]  # fmt: skip
    with WORKER_LOG.open("w") as log:
        worker = subprocess.Popen(command, cwd=harness.ROOT, stdout=log, stderr=log)  # noqa: S603
        try:
            deadline = time.monotonic() + harness.STARTUP_SECONDS
            while " ready." not in WORKER_LOG.read_text():
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the worker did not start; see {WORKER_LOG}")
                time.sleep(0.2)
            yield worker.pid
        finally:
            worker.terminate()
            worker.wait(timeout=30)


if __name__ == "__main__":
    main()
