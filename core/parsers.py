"""The API's JSON parser: bounded in size and depth, and refusing what the database cannot store."""

from __future__ import annotations

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

from core import untrusted


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class StrictJSONParser(JSONParser):
    """JSON within DATA_UPLOAD_MAX_MEMORY_SIZE bytes and ``untrusted.MAX_DEPTH`` levels.

    DRF reads the request stream itself, so Django's own limit (checked on
    ``request.body``) never applies to it: the limit is enforced here while reading.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return untrusted.json_loads(raw.decode(encoding))
        except ValueError as exc:  # UnicodeDecodeError and UntrustedInput are ValueErrors
            raise ParseError(f"JSON parse error - {exc}") from exc
