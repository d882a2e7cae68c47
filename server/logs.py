"""Logging to stderr (stdout carries the MCP protocol), with the API key and the library database's password
scrubbed from every record."""

from __future__ import annotations

import logging
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
        return True


def configure_logging(api_key: SecretStr | None, level: str = "INFO", *, database_url: SecretStr | None = None) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
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
