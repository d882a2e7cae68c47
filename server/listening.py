"""Listening sockets for the servers that bind one (the sandbox, MCP over HTTP): bound here rather than by
uvicorn, so that a port in use or a wrong address is one sentence for the person, not a log and a traceback."""

from __future__ import annotations

import errno
import os
import socket


class CannotListen(OSError):
    """The port is taken (`in_use`), or the address is not this machine's: said in one sentence."""

    def __init__(self, message: str, *, in_use: bool) -> None:
        super().__init__(message)
        self.in_use = in_use


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here rather than by uvicorn so that a port in use is an error to catch."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        if os.name == "posix":  # as uvicorn does: a port left in TIME_WAIT by a server just stopped is free
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it. Without it, Nagle's algorithm meets the client's delayed ACK and
        # every answer waits tens of milliseconds.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen()
    except OSError as exc:
        sock.close()
        message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        raise CannotListen(message, in_use=exc.errno == errno.EADDRINUSE) from None
    return sock
