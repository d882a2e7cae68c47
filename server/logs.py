"""Logging to stderr (stdout carries the MCP protocol), with the API key scrubbed from every record."""

from __future__ import annotations

import logging

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


def configure_logging(api_key: SecretStr | None, level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # Keys are long random strings; a short value could match ordinary text and is not worth hiding.
    if api_key is not None and len(api_key.get_secret_value()) >= 8:
        handler.addFilter(RedactKey(api_key.get_secret_value()))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx2 logs every request line at INFO; keep stderr for what matters.
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
