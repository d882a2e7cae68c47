"""Logging to stderr (stdout carries the MCP protocol), with the API key, the library database's password and
the signatures of signed links scrubbed from every record."""

from __future__ import annotations

import logging
import re
from typing import Final
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr


class RedactKey(logging.Filter):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg, record.args = message.replace(self._secret, "<redacted>"), None
        if record.exc_text:
            record.exc_text = record.exc_text.replace(self._secret, "<redacted>")
        return True


# A signed link (HeyGen's video URLs, a CDN's redirect, this server's own video links) is a bearer credential
# while it lasts: its signing parameters are hidden wherever a URL reaches the log, e.g. in the Location
# header that httpcore2 logs at DEBUG. S3/CloudFront/GCS/Azure names, and our own (sig, expires).
_SIGNED: Final = re.compile(
    r"([?&](?:signature|sig|expires|policy|key-pair-id|token|x-amz-[a-z-]+|x-goog-[a-z-]+|se|sp|sv|skoid|sktid)=)"
    r"[^&#\s'\"<>]*",
    re.IGNORECASE,
)


class RedactLinks(logging.Filter):
    """Hides the signing parameters of every URL in a record, its traceback included."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = _SIGNED.sub(r"\1<redacted>", message)
        if hidden != message:
            record.msg, record.args = hidden, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _SIGNED.sub(r"\1<redacted>", record.exc_text)
        return True


def configure_logging(api_key: SecretStr | None, level: str = "INFO", *, database_url: SecretStr | None = None) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactLinks())
    secrets = {api_key.get_secret_value() if api_key is not None else ""}
    if database_url is not None:  # its password as written in the URL, and decoded
        password = urlsplit(database_url.get_secret_value()).password or ""
        secrets |= {password, unquote(password)}
    # Keys are long random strings; a short value could match ordinary text and is not worth hiding.
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 8:
            handler.addFilter(RedactKey(secret))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx2 logs every request line at INFO; keep stderr for what matters.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
