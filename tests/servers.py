"""Start and stop local servers (dg dev, mlflow ui) for tests, each in its own process group.

Both servers start helper processes (dg dev: webserver, daemon, code server and gRPC
server; mlflow ui: uvicorn and job runners), so a test stops the whole process group.
It sends SIGINT first, which both servers handle by shutting their children down, then
SIGKILL after a grace period. Linux only, because group members are read from /proc.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POLL_SECONDS = 1.0
LOG_TAIL_CHARS = 3000
COMMAND_CHARS = 160


class ServerError(Exception):
    """A test server failed to start, exited early or left processes behind."""


@dataclass
class Server:
    """A started server: its process (the leader of its process group), URL and log file."""

    name: str
    process: subprocess.Popen
    url: str
    log_path: Path
    ready_seconds: float | None = None
    stop_signal: str | None = None
    stop_seconds: float | None = None

    @property
    def pgid(self) -> int:
        return self.process.pid


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def log_tail(path: Path, chars: int = LOG_TAIL_CHARS) -> str:
    """Return the last `chars` characters of a log file, or a note that it is missing."""
    if not path.is_file():
        return f"(no log at {path})"
    return path.read_text(errors="replace")[-chars:]


def _default_sigint() -> None:
    # A shell without job control starts background commands with SIGINT ignored, and
    # children inherit that. Restoring the default lets SIGINT stop the server.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_server(
    name: str,
    command: Sequence[str],
    url: str,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
) -> Server:
    """Start `command` in a new session (so in its own process group), logging to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_default_sigint,
        )
    return Server(name, process, url, log_path)


def wait_until_ready(server: Server, path: str, timeout: float) -> float:
    """Poll GET `server.url + path` until it returns 200, and return the seconds waited.

    Raises ServerError with the log tail if the server exits or the timeout passes first.
    """
    started = time.monotonic()
    last_error = "no request made yet"
    while time.monotonic() - started < timeout:
        if server.process.poll() is not None:
            raise ServerError(
                f"{server.name} exited with status {server.process.returncode} before "
                f"{server.url}{path} answered. Log tail ({server.log_path}):\n"
                f"{log_tail(server.log_path)}"
            )
        try:
            with urllib.request.urlopen(server.url + path, timeout=5) as response:
                if response.status == 200:
                    server.ready_seconds = time.monotonic() - started
                    return server.ready_seconds
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as error:
            last_error = str(error)
        time.sleep(POLL_SECONDS)
    raise ServerError(
        f"{server.name} did not answer {server.url}{path} within {timeout:.0f} s "
        f"(last error: {last_error}). Log tail ({server.log_path}):\n{log_tail(server.log_path)}"
    )


def _read_process(entry: Path) -> tuple[str, int, str] | None:
    """Return (state, process group, shortened command line) of /proc/<pid>, or None if gone."""
    try:
        stat = (entry / "stat").read_text()
        cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    # The fields after the parenthesised command name start: state, ppid, pgrp.
    state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
    return state, int(pgrp), cmdline.strip()[:COMMAND_CHARS]


def group_members(pgid: int) -> list[tuple[int, str]]:
    """Return (pid, command line) of every live, non-zombie process in process group `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        process = _read_process(entry)
        if process and process[1] == pgid and process[0] != "Z":
            members.append((int(entry.name), process[2]))
    return members


def processes_with_env(name: str, value: str) -> list[tuple[int, str]]:
    """Return (pid, command line) of live processes whose environment has `name=value`.

    This finds helper processes that left the server's process group.
    """
    marker = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        process = _read_process(entry) if marker in environment else None
        if process and process[0] != "Z":
            found.append((int(entry.name), process[2]))
    return found


def stop_server(server: Server, grace_seconds: float = 30.0) -> list[tuple[int, str]]:
    """Stop the server's whole process group and return the processes still alive.

    Sends SIGINT to the group and waits up to `grace_seconds` for every member to exit,
    then sends SIGKILL to the group and waits up to 10 s more. Records which signal was
    the last one needed and how long stopping took.
    """
    started = time.monotonic()
    for sig, wait_seconds in ((signal.SIGINT, grace_seconds), (signal.SIGKILL, 10.0)):
        if not group_members(server.pgid):
            break
        server.stop_signal = sig.name
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pgid, sig)
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline and group_members(server.pgid):
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.process.wait(timeout=POLL_SECONDS)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.process.wait(timeout=5)
    server.stop_seconds = time.monotonic() - started
    return group_members(server.pgid)


@contextlib.contextmanager
def running_server(
    name: str,
    command: Sequence[str],
    url: str,
    ready_path: str,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    ready_timeout: float,
) -> Iterator[Server]:
    """Start a server, wait until `ready_path` answers, yield it, and always stop its group.

    Raises ServerError on exit if a process of the group survived SIGKILL. If the body
    raised, that error propagates instead, with a note naming any survivors.
    """
    server = start_server(name, command, url, env, cwd, log_path)
    try:
        wait_until_ready(server, ready_path, ready_timeout)
        yield server
    except BaseException as error:
        survivors = stop_server(server)
        if survivors:
            error.add_note(f"{name} also left processes running after SIGKILL: {survivors}")
        raise
    survivors = stop_server(server)
    if survivors:
        raise ServerError(f"{name} left processes running after SIGKILL: {survivors}")


def post_json(url: str, payload: Mapping[str, Any], timeout: float = 30.0) -> Any:
    """POST `payload` as JSON to `url` and return the decoded JSON response."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)
