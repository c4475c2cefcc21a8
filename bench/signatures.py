"""SM2 signatures (integrations/crypto/sm2.py) against RSA2, in CPU time per operation.

RSA2 is what integrations/payments/signing.py does: RSA-2048, SHA-256, PKCS#1 v1.5. SM2 is
SM2 with SM3 and the default user id, as WeChat Pay's national mode signs. Both sign and
verify the same text (a WeChat Pay request's signed lines, about 300 bytes). Each of
--rounds rounds times --operations of each of the four operations back to back, in CPU
time (time.process_time), so other work on the machine weighs less; the figure of each
operation is its median round.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import results
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from integrations.crypto import sm2

MESSAGE = (
    b"POST\n/v3/pay/transactions/native\n1700000000\n593BEC0C930BF1AFEB40B4A08C8FB242\n"
    b'{"appid":"wxd678efh567hg6787","mchid":"1230000109","description":"bench",'
    b'"out_trade_no":"pay_0123456789abcdef","notify_url":"https://pay.example.gov.cn/notify",'
    b'"amount":{"total":12000,"currency":"CNY"},"scene_info":{"payer_client_ip":"127.0.0.1"}}\n'
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--operations", type=int, default=1000, help="of each, per round")
    args = parser.parse_args()
    operations = _operations()
    per_round: dict[str, list[float]] = {name: [] for name in operations}
    for _ in range(args.rounds):
        for name, operation in operations.items():
            per_round[name].append(_cpu_seconds(operation, args.operations) / args.operations)
    micros = {name: statistics.median(times) * 1e6 for name, times in per_round.items()}
    _print(micros, args)
    results.record(
        "signatures",
        {
            "rounds": args.rounds,
            "operations": args.operations,
            "sm2": {"sign_us": micros["SM2 sign"], "verify_us": micros["SM2 verify"]},
            "rsa2": {"sign_us": micros["RSA2 sign"], "verify_us": micros["RSA2 verify"]},
        },
    )


def _operations() -> dict[str, Callable[[], object]]:
    sm2_key = sm2.generate_private_key()
    sm2_public = sm2_key.public_key()
    sm2_signature = sm2.sign(MESSAGE, sm2_key)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_public = rsa_key.public_key()
    rsa_signature = rsa_key.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    if not sm2.verify(sm2_signature, MESSAGE, sm2_public):
        raise SystemExit("the SM2 signature does not verify")
    return {
        "SM2 sign": lambda: sm2.sign(MESSAGE, sm2_key),
        "SM2 verify": lambda: sm2.verify(sm2_signature, MESSAGE, sm2_public),
        "RSA2 sign": lambda: rsa_key.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256()),
        "RSA2 verify": lambda: rsa_public.verify(
            rsa_signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256()
        ),
    }


def _cpu_seconds(operation: Callable[[], object], count: int) -> float:
    start = time.process_time()
    for _ in range(count):
        operation()
    return time.process_time() - start


def _print(micros: dict[str, float], args: argparse.Namespace) -> None:
    print(f"\n{args.rounds} rounds of {args.operations} operations each, CPU time, median round\n")
    print("| operation | µs per operation | operations/s (one core) | SM2 / RSA2 |")
    print("|---|---|---|---|")
    for name, value in micros.items():
        algorithm, step = name.split()
        ratio = value / micros[f"RSA2 {step}"] if algorithm == "SM2" else 1.0
        print(f"| {name} | {value:.0f} | {1e6 / value:,.0f} | {ratio:.2f} |")
    sm2_both = micros["SM2 sign"] + micros["SM2 verify"]
    rsa2_both = micros["RSA2 sign"] + micros["RSA2 verify"]
    print(
        f"| sign + verify | SM2 {sm2_both:.0f}, RSA2 {rsa2_both:.0f} | "
        f"SM2 {1e6 / sm2_both:,.0f}, RSA2 {1e6 / rsa2_both:,.0f} | {sm2_both / rsa2_both:.2f} |"
    )


if __name__ == "__main__":
    main()
