"""How fast courier route pushes are taken in and applied, with a real Celery worker.

Per courier (sf, ems), setup: --shipments shipments recorded through the service and booked
by hand with waybill numbers of this run, so no courier sandbox takes part. Timed: the
clients post one push per scan, signed as the courier signs it, to /notify/couriers/<code>/
push: four non-terminal scans per waybill (a terminal one makes the service query the
route), the second pushed twice, shuffled. The server stores each push and queues its apply
task on the local RabbitMQ for a Celery worker process, as `manage.py serve` runs one.
Figures: pushes ingested (answered 200) and applied per second, received_at -> applied_at
lag, and the floor: as many POST /bench/insert-one (one row) on the same server.
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
from datetime import UTC, datetime, timedelta

import harness
import requests
from kombu import Connection

WORKER_LOG = harness.ROOT / "var" / "bench-worker.log"
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
APPLY_SECONDS = 900  # how long to wait for the worker to apply every push
# Each courier's non-terminal scans, in the order they happen: op code and words.
SCANS = {
    "sf": [("50", "顺丰速运 已收取快件"), ("30", "快件已发车"), ("31", "快件到达杭州中转场"),
           ("44", "快件交给派送员，正在派送途中")],
    "ems": [("203", "收寄"), ("306", "封发"), ("954", "到达处理中心"), ("702", "投递")],
}  # fmt: skip
FINAL_STATUS = "out_for_delivery"
Push = tuple[str, dict]  # a URL and the keyword arguments of requests' post


def main() -> None:
    args = harness.arguments(__doc__, shipments=400, concurrency=os.cpu_count() or 2, warmup=2)
    broker = os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER_URL
    port = harness.free_port()
    harness.setup_django(port)  # this process runs tasks in-process: setup's no-op bookings
    harness.portal_key()  # loads the demo catalogue, whose departments ship
    for chatty in ("celery.app.trace", "kombu.connection"):  # about setup's in-process tasks
        logging.getLogger(chatty).setLevel(logging.ERROR)
    run = f"{int(time.time()) % 10**7:07d}"
    waybills = {courier: booked_waybills(courier, args.shipments, run) for courier in SCANS}
    count = args.shipments * (len(SCANS["sf"]) + 1)
    # The server and the worker, children of this process, use the broker on a queue of their own.
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    os.environ.update(CELERY_BROKER_URL=broker, CELERY_QUEUE=queue)
    try:
        with (
            running_worker(args.concurrency) as worker,
            harness.running_server(port, args.workers, args.threads) as server,
        ):
            insert_one = bare_insert(server.url)
            harness.measure(insert_one, clients=args.clients, seconds=args.warmup)
            ingested, applied = {}, {}
            for courier, numbers in waybills.items():
                sends = pushes(courier, numbers, server.url)
                started, worker_cpu = time.time(), harness.tree_cpu_seconds(worker)
                ingested[courier] = harness.measure(
                    harness.once_each(sends, post), clients=args.clients, servers={"server": server}
                )
                applied[courier] = applied_lags(courier, started)
                ingested[courier].cpu_seconds["worker"] = (
                    harness.tree_cpu_seconds(worker) - worker_cpu
                )
            floor = harness.measure(
                harness.once_each(range(count), lambda session, _: insert_one(session)),
                clients=args.clients,
            )
    finally:
        with Connection(broker) as connection:
            connection.default_channel.queue_delete(queue)

    print(
        f"\n{args.clients} clients, {harness.served_by(args)}, a Celery worker of "
        f"{args.concurrency} processes; per courier {args.shipments} waybills x "
        f"{len(SCANS['sf'])} scans + 1 duplicate = {count} pushes"
    )
    for courier, measured in ingested.items():
        print(measured.line(f"/notify/couriers/{courier}/push", unit="pushes"))
    print(floor.line("POST /bench/insert-one", unit="inserts"))
    for courier, measured in ingested.items():
        seconds, lags = applied[courier]
        rate, cut = len(lags) / seconds, statistics.quantiles(lags, n=100, method="inclusive")
        print(
            f"{courier:<4} applied {rate:6.1f} pushes/s: all {len(lags)} by {seconds:.1f} s, "
            f"{seconds - measured.seconds:.1f} s after the load ended\n"
            f"     lag received -> applied: p50 {cut[49]:.2f} s   p95 {cut[94]:.2f} s   "
            f"max {max(lags):.2f} s\n"
            f"     / floor: ingested {measured.per_second / floor.per_second:.2f}, applied "
            f"{rate / floor.per_second:.2f}   {measured.cpu_line('push')}\n"
            f"     {end_state(courier, waybills[courier])}"
        )
    missing = {courier: count - len(lags) for courier, (_, lags) in applied.items()}
    if floor.failures or any(m.failures for m in ingested.values()) or any(missing.values()):
        raise SystemExit(f"pushes not applied: {missing}; see var/bench-*.log")


def booked_waybills(courier: str, count: int, run: str) -> list[str]:
    """Record ``count`` shipments through the service, then book them by hand as the courier
    would have; return their waybill numbers (of this run, so unique)."""
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
    numbers = [f"{'SF' if courier == 'sf' else '98'}{run}{index:05d}" for index in range(count)]
    for index, waybill_no in enumerate(numbers):
        new = NewShipment(
            kind="result", case_number=f"BENCH-{run}-{index}", department="330100-SCJG",
            sender=agency, recipient=applicant, items=items, courier=courier,
            service_level="standard", deliver_by=timezone.now() + timedelta(days=3),
            freight_payer="agency", undeliverable_rule="return",
        )  # fmt: skip
        with transaction.atomic():  # its booking task, run on commit, then finds it booked
            shipment = shipment_create(client=None, new=new).shipment
            Shipment.objects.filter(pk=shipment.pk).update(
                waybill_no=waybill_no, booked_at=timezone.now(), next_booking_at=None
            )
    return numbers


def pushes(courier: str, waybills: list[str], url: str) -> list[Push]:
    """Every scan of every waybill as the courier pushes it (the second scan twice), shuffled."""
    from core.money import BEIJING
    from integrations.couriers.sf.wire import TIME_FORMAT

    first = datetime.now(BEIJING) - timedelta(days=1)
    build = sf_push if courier == "sf" else ems_push
    sends = []
    for waybill_no in waybills:
        for step, (op_code, words) in enumerate(SCANS[courier]):
            at = (first + timedelta(hours=step)).strftime(TIME_FORMAT)
            push = build(f"{url}/notify/couriers/{courier}/push", waybill_no, op_code, words, at)
            sends += [push, push] if step == 1 else [push]
    random.Random(0).shuffle(sends)
    return sends


def sf_push(url: str, waybill_no: str, op_code: str, words: str, at: str) -> Push:
    """SF's JSON WaybillRoute push; SF signs none: the URL carries the push token."""
    from django.conf import settings

    route = {"mailno": waybill_no, "id": uuid.uuid4().hex, "acceptTime": at,
             "acceptAddress": "杭州市", "remark": words, "opCode": op_code}  # fmt: skip
    body = json.dumps({"Body": {"WaybillRoute": [route]}}, ensure_ascii=False).encode()
    return url, {"params": {"token": settings.SF_EXPRESS["push_token"]}, "data": body,
                 "headers": {"Content-Type": "application/json;charset=UTF-8"}}  # fmt: skip


def ems_push(url: str, waybill_no: str, op_code: str, words: str, at: str) -> Push:
    """EMS's form: the trace as logistics_interface, signed by the adapter's data_digest."""
    from django.conf import settings

    from integrations.couriers.ems.wire import digest

    trace = {"traceNo": waybill_no, "opCode": op_code, "opName": words, "opTime": at,
             "opOrgCode": "330001", "opOrgName": "杭州中心", "opDesc": f"已{words}"}  # fmt: skip
    content = json.dumps({"traces": [trace]}, ensure_ascii=False, separators=(",", ":"))
    form = {"logistics_interface": content, "data_digest": digest(content, settings.EMS["secret"]),
            "msg_type": "TRACEPUSH", "ecCompanyId": settings.EMS["sender_no"]}  # fmt: skip
    return url, {"data": form}


def post(session: requests.Session, push: Push) -> int:
    url, arguments = push
    return session.post(url, **arguments).status_code


def bare_insert(url: str) -> harness.Send:
    return lambda session: session.post(f"{url}/bench/insert-one").status_code


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
def running_worker(concurrency: int) -> Iterator[int]:
    """A Celery worker process as `manage.py serve` starts it (no beat); yields its pid."""
    WORKER_LOG.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO",
               f"--concurrency={concurrency}"]  # fmt: skip
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
