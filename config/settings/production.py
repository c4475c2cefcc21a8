"""Production: every secret comes from the environment and has no default."""

import base64
import json

from config.env import MissingSetting, env, env_bool, env_list, env_required
from config.settings.base import *  # noqa: F403
from config.settings.secrets import (
    parse_index_algorithms,
    parse_keyring,
    pem_from_env,
    pem_required,
)

SECRET_KEY = env_required("DJANGO_SECRET_KEY")
DATABASES = {"default": database_from_url(env_required("DATABASE_URL"))}  # noqa: F405
CELERY_BROKER_URL = env_required("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = False
# Where the channels and couriers send their notifications: this service's public address.
SERVICE_BASE_URL = env_required("SERVICE_BASE_URL")
# Behind a reverse proxy every request arrives from loopback: /metrics needs its token.
METRICS_TOKEN = env_required("METRICS_TOKEN")

PII_KEYS = parse_keyring(env_required("PII_KEYS"))
PII_ACTIVE_KEY_ID = env_required("PII_ACTIVE_KEY_ID")
PII_HASH_KEY = base64.b64decode(env_required("PII_HASH_KEY"))
PII_HASH_ALGORITHMS = parse_index_algorithms(env("PII_HASH_ALGORITHMS", "hmac-sha256"))

PUBLIC_PLATFORM = {
    "base_url": env_required("PUBLIC_PLATFORM_BASE_URL"),
    "app_id": env_required("PUBLIC_PLATFORM_APP_ID"),
    # RSA2 or SM2, as registered for the app; the two keys below are of that scheme.
    "sign_type": env("PUBLIC_PLATFORM_SIGN_TYPE", "RSA2"),
    "private_key_pem": pem_required("PUBLIC_PLATFORM_PRIVATE_KEY"),
    "platform_public_key_pem": pem_required("PUBLIC_PLATFORM_PUBLIC_KEY"),
}


# The fiscal receipt platform (docs/receipt_platform.md). Its published SM2 public keys by
# certificate serial: RECEIPTS_ISSUER_PUBLIC_KEYS and RECEIPTS_FINANCE_PUBLIC_KEYS are
# "SERIAL:BASE64-OF-PEM" items, comma-separated: a key being rotated sits beside the next.
def _receipt_keys(name: str) -> dict[str, str]:
    items = (item.partition(":") for item in env_list(name))
    keys = {serial: base64.b64decode(pem).decode() for serial, _, pem in items if serial and pem}
    if not keys:
        raise MissingSetting(f"environment variable {name} must be set (SERIAL:BASE64-OF-PEM,...)")
    return keys


RECEIPTS = {
    "base_url": env_required("RECEIPTS_BASE_URL"),
    "app_id": env_required("RECEIPTS_APP_ID"),
    "app_key": env_required("RECEIPTS_APP_KEY"),
    "sign_method": env("RECEIPTS_SIGN_METHOD", "HMAC-SM3"),  # or HMAC-SHA256, as registered
    "issuer_public_keys": _receipt_keys("RECEIPTS_ISSUER_PUBLIC_KEYS"),
    "finance_public_keys": _receipt_keys("RECEIPTS_FINANCE_PUBLIC_KEYS"),
}

# SMS notices to applicants stay off until a deployment turns them on (docs/sms.md).
if env_bool("SMS_ENABLED", False):
    SMS = {
        **SMS,  # noqa: F405
        "enabled": True,
        "base_url": env("SMS_BASE_URL", "https://sms.tencentcloudapi.com"),
        "region": env("SMS_REGION", "ap-guangzhou"),
        "secret_id": env_required("SMS_SECRET_ID"),
        "secret_key": env_required("SMS_SECRET_KEY"),
        "sdk_app_id": env_required("SMS_SDK_APP_ID"),
        "sign_name": env_required("SMS_SIGN_NAME"),
        "callback_token": env_required("SMS_CALLBACK_TOKEN"),
        "templates": {
            kind: env_required(f"SMS_TEMPLATE_{kind.upper()}")
            for kind in (
                "payment_received",
                "receipt_issued",
                "shipment_booked",
                "out_for_delivery",
                "delivery_failed",
                "delivered",
            )
        },
        "portal_url": env_required("SMS_PORTAL_URL"),
    }

# Licensed processors are optional: a deployment configures those it has contracts with,
# registers them (with their licences) in the admin, and lists them on its departments.
ALIPAY = {
    "base_url": env("ALIPAY_GATEWAY_URL", "https://openapi.alipay.com/gateway.do"),
    "app_id": env("ALIPAY_APP_ID"),
    "private_key_pem": pem_from_env("ALIPAY_APP_PRIVATE_KEY"),
    "alipay_public_key_pem": pem_from_env("ALIPAY_PUBLIC_KEY"),
}
# WECHATPAY_SCHEME=sm2 for the national mode: the key and serial variables then hold the
# merchant's SM2 certificate's and WeChat's SM2 platform key's (docs/wechatpay.md).
WECHATPAY = {
    "base_url": env("WECHATPAY_BASE_URL", "https://api.mch.weixin.qq.com"),
    "scheme": env("WECHATPAY_SCHEME", "rsa"),
    "mchid": env("WECHATPAY_MCHID"),
    "appid": env("WECHATPAY_APPID"),
    "merchant_serial_no": env("WECHATPAY_MERCHANT_SERIAL_NO"),
    "private_key_pem": pem_from_env("WECHATPAY_MERCHANT_PRIVATE_KEY"),
    "apiv3_key": env("WECHATPAY_APIV3_KEY"),
    "platform_serial_no": env("WECHATPAY_PLATFORM_SERIAL_NO"),
    "platform_public_key_pem": pem_from_env("WECHATPAY_PLATFORM_PUBLIC_KEY"),
}
UNIONPAY = {
    "base_url": env("UNIONPAY_BASE_URL", "https://gateway.95516.com"),
    "file_transfer_url": env("UNIONPAY_FILE_TRANSFER_URL", "https://filedownload.95516.com/"),
    "mer_id": env("UNIONPAY_MER_ID"),
    "private_key_pem": pem_from_env("UNIONPAY_MERCHANT_PRIVATE_KEY"),
    "certificate_pem": pem_from_env("UNIONPAY_MERCHANT_CERTIFICATE"),
    "unionpay_certificate_pem": pem_from_env("UNIONPAY_SIGNING_CERTIFICATE"),
}

# Couriers, like processors, are those the agencies have contracts with.
SF_EXPRESS = {
    "base_url": env("SF_EXPRESS_BASE_URL", "https://sfapi.sf-express.com"),
    "partner_id": env("SF_EXPRESS_PARTNER_ID"),
    "checkword": env("SF_EXPRESS_CHECKWORD"),
    "push_token": env("SF_EXPRESS_PUSH_TOKEN"),
    "monthly_card": env("SF_EXPRESS_MONTHLY_CARD"),
}
# EMS_BASE_URL: https://api.ems.com.cn/amp-prod-api/f/amp (the adapter posts to /api/open);
# EMS_SECRET: the sign key (签名钥匙) issued with the sender number, Base64 (docs/ems.md).
EMS = {
    "base_url": env("EMS_BASE_URL"),
    "sender_no": env("EMS_SENDER_NO"),
    "authorization": env("EMS_AUTHORIZATION"),
    "secret": env("EMS_SECRET"),
}

SANDBOXES_ENABLED = env_bool("SANDBOXES_ENABLED", False)
# Webhooks go to public internet addresses only: never this host's loopback services.
WEBHOOK_ALLOW_LOOPBACK = False
# Static files collected at deploy (`manage.py collectstatic`), served compressed with
# hashed names that browsers may cache for ever.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True

# Banks holding the departments' settlement accounts (docs/banks.md): BANKS=icbc,ccb and,
# for each code, BANK_<CODE>_FORMAT (camt053, mt940[:<encoding>] or csv:<layout>),
# BANK_<CODE>_BASE_URL and BANK_<CODE>_ACCOUNTS (comma-separated).
BANKS = {
    code: {
        "format": env_required(f"BANK_{code.upper().replace('-', '_')}_FORMAT"),
        "base_url": env_required(f"BANK_{code.upper().replace('-', '_')}_BASE_URL"),
        "accounts": env_list(f"BANK_{code.upper().replace('-', '_')}_ACCOUNTS"),
    }
    for code in env_list("BANKS")
}

# Closing a day (docs/closing.md): CLOSING_DESTINATIONS is the JSON of CLOSING["destinations"]
# (the treasury and special accounts), CLOSING_SIGNING_KEY the SM2 key the settlement
# reports' CSV files are signed with (PKCS#8 PEM, inline or as CLOSING_SIGNING_KEY_FILE).
# Without them no report is approved (no destination) and no CSV is signed.
CLOSING = {
    **CLOSING,  # noqa: F405
    "destinations": json.loads(env("CLOSING_DESTINATIONS") or '{"regions": {}, "departments": {}}'),
    "signing_key_pem": pem_from_env("CLOSING_SIGNING_KEY"),
}
