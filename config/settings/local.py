"""The embedded default: runs with no configuration at all, on development keys.

A PostgreSQL server of the clone's own in VAR_DIR/postgres (core/embedded_postgres) unless
DATABASE_URL names another, and tasks in-process unless CELERY_BROKER_URL names a broker.
The sandboxes play every outside party, served by a process of their own on SANDBOX_PORT.
"""

import base64
from urllib.parse import quote

from config import dev_keys
from config.env import env, env_bool
from config.settings.base import *  # noqa: F403
from config.settings.secrets import parse_index_algorithms, parse_keyring
from core.embedded_postgres import django_database

DATABASES = {
    "default": (
        database_from_url(env("DATABASE_URL"))  # noqa: F405
        if env("DATABASE_URL")
        else django_database(VAR_DIR / "postgres")  # noqa: F405
    )
}

DEBUG = env_bool("DEBUG", False)
# `make run` logs readable text; LOG_HUMAN=0 for the JSON lines of production.
LOGGING = logging_config(human=env_bool("LOG_HUMAN", True), level=env("LOG_LEVEL", "INFO"))  # noqa: F405
if CELERY_TASK_ALWAYS_EAGER:  # noqa: F405
    # In-process tasks: a line for each one that succeeded says nothing a worker's would.
    LOGGING["loggers"]["celery.app.trace"] = {"level": "WARNING"}
SECRET_KEY = env("DJANGO_SECRET_KEY") or dev_keys.secret_b64("django-secret-key", 48)

# dev1 is AES-256-GCM, dev2 SM4-GCM: PII_ACTIVE_KEY_ID=dev2 seals with SM4 (docs/deploy.md).
PII_KEYS = parse_keyring(
    env("PII_KEYS")
    or f"dev1:{dev_keys.secret_b64('pii-dev1')},"
    f"dev2:sm4gcm:{dev_keys.secret_b64('pii-dev2-sm4', 16)}"
)
PII_ACTIVE_KEY_ID = env("PII_ACTIVE_KEY_ID") or next(iter(PII_KEYS))
PII_HASH_KEY = base64.b64decode(env("PII_HASH_KEY") or dev_keys.secret_b64("pii-hash"))
PII_HASH_ALGORITHMS = parse_index_algorithms(env("PII_HASH_ALGORITHMS", "hmac-sha256"))

SANDBOXES_ENABLED = True
# Static files straight from the apps' folders: no collectstatic before `make run`.
WHITENOISE_USE_FINDERS = True
STATIC_ROOT = None
# A developer's webhook receiver on 127.0.0.1 may be registered; loopback only, never a
# private range or a metadata address (billing/webhook_targets.py).
WEBHOOK_ALLOW_LOOPBACK = True
# The sandbox platform has an app for each signature scheme; PUBLIC_PLATFORM_SIGN_TYPE=SM2
# runs the service on the SM2 one (SM2 with SM3, docs/public_platform.md).
PUBLIC_PLATFORM_APPS = {
    "RSA2": {
        "app_id": "sandbox-app-0001",
        "private_key_pem": dev_keys.rsa_private_pem("public-platform-merchant"),
        "platform_public_key_pem": dev_keys.rsa_public_pem("public-platform-platform"),
    },
    "SM2": {
        "app_id": "sandbox-app-sm2",
        "private_key_pem": dev_keys.sm2_private_pem("public-platform-merchant-sm2"),
        "platform_public_key_pem": dev_keys.sm2_public_pem("public-platform-platform-sm2"),
    },
}
_PUBLIC_PLATFORM_SIGN_TYPE = env("PUBLIC_PLATFORM_SIGN_TYPE", "RSA2")
PUBLIC_PLATFORM = {
    "base_url": env("PUBLIC_PLATFORM_BASE_URL") or f"{SANDBOX_BASE_URL}/sandbox/public_platform",  # noqa: F405
    "sign_type": _PUBLIC_PLATFORM_SIGN_TYPE,
    **PUBLIC_PLATFORM_APPS[_PUBLIC_PLATFORM_SIGN_TYPE],
}
SANDBOX_PUBLIC_PLATFORM = {
    "platform_private_key_pem": dev_keys.rsa_private_pem("public-platform-platform"),
    "platform_sm2_private_key_pem": dev_keys.sm2_private_pem("public-platform-platform-sm2"),
    "merchant_public_keys": {
        "sandbox-app-0001": dev_keys.rsa_public_pem("public-platform-merchant"),
        "sandbox-app-sm2": dev_keys.sm2_public_pem("public-platform-merchant-sm2"),
    },
    # The scheme each app signs with and is answered in; an app not named here uses RSA2.
    "merchant_sign_types": {"sandbox-app-sm2": "SM2"},
    # Real-world seconds between notification retries are divided by this factor.
    "time_scale": float(env("SANDBOX_TIME_SCALE") or 1),
}

# Licensed processors, each pointed at its sandbox with development keys. A deployment
# points base_url at the real gateway and supplies its own keys (see production.py).
ALIPAY = {
    "base_url": f"{SANDBOX_BASE_URL}/sandbox/alipay/gateway.do",  # noqa: F405
    "app_id": "2021000000000001",
    "private_key_pem": dev_keys.rsa_private_pem("alipay-app"),
    "alipay_public_key_pem": dev_keys.rsa_public_pem("alipay-platform"),
}
SANDBOX_ALIPAY = {
    "alipay_private_key_pem": dev_keys.rsa_private_pem("alipay-platform"),
    "app_public_keys": {"2021000000000001": dev_keys.rsa_public_pem("alipay-app")},
    "time_scale": float(env("SANDBOX_TIME_SCALE") or 1),
}
# The sandbox's WeChat Pay has a merchant in each scheme: 1900000001 with an RSA
# certificate, 1900000002 in the national mode (SM2/SM3/SM4, docs/wechatpay.md).
# WECHATPAY_SCHEME=sm2 runs the service as the second. Each scheme's certificates, the
# merchant's and the platform's, have serial numbers of their own.
WECHATPAY_MERCHANTS = {
    "rsa": {
        "mchid": "1900000001",
        "merchant_serial_no": "3775B6A45ACD588826D15E583A95F5DD00000001",
        "private_key_pem": dev_keys.rsa_private_pem("wechatpay-merchant"),
        "platform_serial_no": "5157F09EFDC096DE15EBE81A47057A7200000001",
        "platform_public_key_pem": dev_keys.rsa_public_pem("wechatpay-platform"),
    },
    "sm2": {
        "mchid": "1900000002",
        "merchant_serial_no": "3775B6A45ACD588826D15E583A95F5DD00000002",
        "private_key_pem": dev_keys.sm2_private_pem("wechatpay-merchant-sm2"),
        "platform_serial_no": "5157F09EFDC096DE15EBE81A47057A7200000002",
        "platform_public_key_pem": dev_keys.sm2_public_pem("wechatpay-platform-sm2"),
    },
}
_WECHATPAY_SCHEME = env("WECHATPAY_SCHEME", "rsa")
WECHATPAY = {
    "base_url": f"{SANDBOX_BASE_URL}/sandbox/wechatpay",  # noqa: F405
    "scheme": _WECHATPAY_SCHEME,
    "appid": "wx0000000000000001",
    "apiv3_key": dev_keys.secret_b64("wechatpay-apiv3", 24),  # 32 characters, as WeChat issues
    **WECHATPAY_MERCHANTS[_WECHATPAY_SCHEME],
}
SANDBOX_WECHATPAY = {
    # WeChat Pay's platform key in each scheme, under the serial its merchants configure.
    "platform": {
        "rsa": {
            "serial_no": WECHATPAY_MERCHANTS["rsa"]["platform_serial_no"],
            "private_key_pem": dev_keys.rsa_private_pem("wechatpay-platform"),
        },
        "sm2": {
            "serial_no": WECHATPAY_MERCHANTS["sm2"]["platform_serial_no"],
            "private_key_pem": dev_keys.sm2_private_pem("wechatpay-platform-sm2"),
        },
    },
    # Each merchant's certificate and the scheme it signs in ("rsa" when not named).
    "merchants": {
        WECHATPAY_MERCHANTS["rsa"]["mchid"]: {
            "serial_no": WECHATPAY_MERCHANTS["rsa"]["merchant_serial_no"],
            "public_key_pem": dev_keys.rsa_public_pem("wechatpay-merchant"),
            "apiv3_key": WECHATPAY["apiv3_key"],
        },
        WECHATPAY_MERCHANTS["sm2"]["mchid"]: {
            "scheme": "sm2",
            "serial_no": WECHATPAY_MERCHANTS["sm2"]["merchant_serial_no"],
            "public_key_pem": dev_keys.sm2_public_pem("wechatpay-merchant-sm2"),
            "apiv3_key": WECHATPAY["apiv3_key"],
        },
    },
    "time_scale": float(env("SANDBOX_TIME_SCALE") or 1),
}
UNIONPAY = {
    "base_url": f"{SANDBOX_BASE_URL}/sandbox/unionpay",  # noqa: F405
    "mer_id": "777290058110048",
    "private_key_pem": dev_keys.rsa_private_pem("unionpay-merchant"),
    "certificate_pem": dev_keys.self_signed_certificate_pem("unionpay-merchant", "777290058110048"),
    "unionpay_certificate_pem": dev_keys.self_signed_certificate_pem(
        "unionpay-platform", "中国银联股份有限公司 sandbox signing"
    ),
}
SANDBOX_UNIONPAY = {
    "private_key_pem": dev_keys.rsa_private_pem("unionpay-platform"),
    "certificate_pem": UNIONPAY["unionpay_certificate_pem"],
    "merchant_certificates": {"777290058110048": UNIONPAY["certificate_pem"]},
    "time_scale": float(env("SANDBOX_TIME_SCALE") or 1),
}

# Each sandbox revenue system checks request signatures with its secret, which the
# demo seed also registers on the RevenueSystem row pointed at it, and with the method
# agreed for it: the service's own (REVENUE_SIGNATURE_METHODS), HMAC-SHA256 by default.
SANDBOX_REVENUE = {
    "systems": {"hz-fiscal": dev_keys.secret_b64("revenue-hz-fiscal")},
    "signature_methods": REVENUE_SIGNATURE_METHODS,  # noqa: F405
}

# The province's fiscal receipt platform (财政电子票据), pointed at its sandbox; see
# docs/receipt_platform.md. Receipts are verified with the published SM2 public keys of the
# issuing unit and the finance department, found by the serial number a receipt names.
_RECEIPTS_CA = "CN=Sandbox Fiscal CA,C=CN"
_RECEIPTS_ISSUER = {"serial_number": "5A3C0E7100000001", "issuer_name": _RECEIPTS_CA}
_RECEIPTS_FINANCE = {"serial_number": "5A3C0E7100000002", "issuer_name": _RECEIPTS_CA}
# The sandbox platform has an app for each request-signing scheme; RECEIPTS_SIGN_METHOD=
# HMAC-SHA256 runs the service on the second.
_RECEIPTS_APPS = {
    "HMAC-SM3": {
        "app_id": "sandbox-receipts-0001",
        "app_key": dev_keys.secret_b64("receipts-app-key"),
        "sign_method": "HMAC-SM3",
    },
    "HMAC-SHA256": {
        "app_id": "sandbox-receipts-0002",
        "app_key": dev_keys.secret_b64("receipts-app-key-sha256"),
        "sign_method": "HMAC-SHA256",
    },
}
RECEIPTS = {
    "base_url": env("RECEIPTS_BASE_URL") or f"{SANDBOX_BASE_URL}/sandbox/receipts",  # noqa: F405
    **_RECEIPTS_APPS[env("RECEIPTS_SIGN_METHOD", "HMAC-SM3")],
    "issuer_public_keys": {
        _RECEIPTS_ISSUER["serial_number"]: dev_keys.sm2_public_pem("receipts-issuer")
    },
    "finance_public_keys": {
        _RECEIPTS_FINANCE["serial_number"]: dev_keys.sm2_public_pem("receipts-finance")
    },
}
SANDBOX_RECEIPTS = {
    "apps": {app["app_id"]: app for app in _RECEIPTS_APPS.values()},
    "issuer": {**_RECEIPTS_ISSUER, "private_key_pem": dev_keys.sm2_private_pem("receipts-issuer")},
    "finance": {
        **_RECEIPTS_FINANCE,
        "private_key_pem": dev_keys.sm2_private_pem("receipts-finance"),
    },
    "region_code": "330000",  # SupervisorAreaCode; its first two digits start receipt codes
    "range_size": 1_000_000,  # numbers in each invoicing party's range
}

# Notices to applicants by SMS through Tencent Cloud SMS, pointed at its sandbox; see
# docs/sms.md. A deployment points base_url at https://sms.tencentcloudapi.com with its own
# API key, SMS app, approved signature and templates. The templates approved for the app,
# by notice kind: their ids, and how many parameters each takes.
_SMS_TEMPLATES = {
    "payment_received": ("2100001", 2),
    "receipt_issued": ("2100002", 3),
    "shipment_booked": ("2100003", 2),
    "out_for_delivery": ("2100004", 1),
    "delivery_failed": ("2100005", 1),
    "delivered": ("2100006", 1),
}
SMS = {
    **SMS,  # noqa: F405
    "enabled": True,
    "base_url": env("SMS_BASE_URL") or f"{SANDBOX_BASE_URL}/sandbox/sms",  # noqa: F405
    "secret_id": "AKIDsandbox00000000000000000000000001",
    "secret_key": dev_keys.secret_b64("sms-secret-key", 24),
    "sdk_app_id": "1400000001",
    "sign_name": "政务服务",
    "callback_token": dev_keys.secret_b64("sms-callback-token", 24),
    "templates": {kind: template_id for kind, (template_id, _) in _SMS_TEMPLATES.items()},
    # The portal the templates send the applicant to, a constant of their approved text.
    "portal_url": env("SMS_PORTAL_URL", "https://zwfw.example.gov.cn"),
}
_SMS_CALLBACK_TOKEN = quote(SMS["callback_token"], safe="")
SANDBOX_SMS = {
    "credentials": {SMS["secret_id"]: SMS["secret_key"]},
    "apps": {
        SMS["sdk_app_id"]: {
            "owner": SMS["secret_id"],
            "sign_names": [SMS["sign_name"]],
            "templates": dict(_SMS_TEMPLATES.values()),
            # The callback URLs set in the console; "{service}" becomes SERVICE_BASE_URL.
            "status_callback_url": f"{{service}}/notify/sms/status?token={_SMS_CALLBACK_TOKEN}",
            "reply_callback_url": f"{{service}}/notify/sms/reply?token={_SMS_CALLBACK_TOKEN}",
        }
    },
    # Messages to one number within each window: Tencent's defaults are 1, 5 and 10; an
    # agency's account (企业认证) raises them for a day's notices to one applicant.
    "frequency_limits": {"thirty_seconds": 3, "one_hour": 20, "day": 50},
    "time_scale": float(env("SANDBOX_TIME_SCALE") or 1),
}

# China Post EMS, pointed at its sandbox with development credentials; see docs/ems.md.
EMS = {
    "base_url": env("EMS_BASE_URL") or f"{SANDBOX_BASE_URL}/sandbox/ems",  # noqa: F405
    "sender_no": "1100000000001",
    "authorization": dev_keys.secret_b64("ems-authorization", 12),
    # EMS's sign key (签名钥匙): an SM4 key, 16 bytes in Base64.
    "secret": dev_keys.secret_b64("ems-sign-key", 16),
}
SANDBOX_EMS = {
    "senders": {EMS["sender_no"]: {"authorization": EMS["authorization"], "secret": EMS["secret"]}},
    "time_scale": float(env("SANDBOX_TIME_SCALE") or 1),
}

# SF Express open platform, pointed at its sandbox. A deployment points base_url at
# https://sfapi.sf-express.com and supplies its partnerID, checkword and push token.
SF_EXPRESS = {
    "base_url": env("SF_EXPRESS_BASE_URL") or f"{SANDBOX_BASE_URL}/sandbox/sf",  # noqa: F405
    "partner_id": "SFSANDBOX0001",
    "checkword": dev_keys.secret_b64("sf-express-checkword", 24),
    "push_token": dev_keys.secret_b64("sf-express-push-token", 24),
    "monthly_card": "7551234567",
}
SANDBOX_SF_EXPRESS = {
    "partners": {SF_EXPRESS["partner_id"]: SF_EXPRESS["checkword"]},
    # Each partner's push URL unless one is registered through _control/: "{service}" is
    # replaced by SERVICE_BASE_URL at push time.
    "push_urls": {
        SF_EXPRESS["partner_id"]: "{service}/notify/couriers/sf/push?token="
        + quote(SF_EXPRESS["push_token"], safe="")
    },
    "time_scale": float(env("SANDBOX_TIME_SCALE") or 1),
}

# Banks holding the departments' settlement accounts, each pointed at the sandbox bank;
# see docs/banks.md. A deployment points base_url at its bank's statement service.
_SANDBOX_BANK_URL = f"{SANDBOX_BASE_URL}/sandbox/banks"  # noqa: F405
BANKS = {
    "icbc": {
        "format": "camt053",
        "base_url": _SANDBOX_BANK_URL,
        "accounts": ["1202020129900000102", "1202020209000012345"],
    },
    "ccb": {
        "format": "csv:ccb_example",
        "base_url": _SANDBOX_BANK_URL,
        "accounts": ["33050161622700000101", "33050161622700000201"],
    },
    "abc": {
        "format": "mt940",
        "base_url": _SANDBOX_BANK_URL,
        "accounts": ["19000101040000000103", "3301040160000000001"],
    },
    "hzbank": {
        "format": "camt053",
        "base_url": _SANDBOX_BANK_URL,
        "accounts": ["33001616700050000104"],
    },
}
# Where the demo's departments remit their days (docs/closing.md): the city's treasury, and
# the fiscal special account for the one department named; both kept at the sandbox bank.
CLOSING = {
    **CLOSING,  # noqa: F405
    "destinations": {
        "regions": {
            "33": {
                "kind": "treasury",
                "account": "270101040000000001",
                "name": "国家金库浙江省分库",
                "bank": "001331000016",
                "bank_name": "中国人民银行杭州中心支行",
            },
            "3301": {
                "kind": "treasury",
                "account": "270101040000000002",
                "name": "国家金库杭州市中心支库",
                "bank": "001331000016",
                "bank_name": "中国人民银行杭州中心支行",
            },
        },
        "departments": {},
    },
    "signing_key_pem": dev_keys.sm2_private_pem("closing-report-signing"),
}
SANDBOX_BANKS = {
    # The accounts the sandbox bank keeps (more are opened by posting entries to them).
    "accounts": [account for bank in BANKS.values() for account in bank["accounts"]],
    # A date's statement is served once that day has ended in Beijing, as a bank does.
    "hold_until_day_ends": True,
}

# The sandboxes' fees and the accounts they pay departments from, for reconciliation.
RECONCILIATION = {
    **RECONCILIATION,  # noqa: F405
    "fee_rates_bps": {"public_platform": 0, "alipay": 60, "wechatpay": 60, "unionpay": 50},
    # The accounts each processor pays the settlement accounts from, as the sandbox banks'
    # statements name them: how the bank leg knows whose clearing a credit is.
    "processor_accounts": {
        "31050161393600000001": "public_platform",
        "1202021119900088888": "alipay",
        "440300000000000000188": "wechatpay",
        "310066726018800000666": "unionpay",
    },
}
