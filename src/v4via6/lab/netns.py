"""Network-namespace primitives for the lab: namespaces, veth pairs, commands, polling.

Everything here shells out to iproute2 (``ip``), the same tool a person would
use to inspect the result. Only namespaces whose names start with ``v4v6-`` may
be created or deleted through this module, so a typo can never remove someone
else's namespace.

Usage::

    create_namespace("v4v6-t1-r1")
    create_namespace("v4v6-t1-r2")
    create_veth("v4v6-t1-r1", "to-r2", "v4v6-t1-r2", "to-r1")
    ns_exec("v4v6-t1-r1", "ip", "link", "set", "to-r2", "up")
    wait_until(lambda: link_is_up("v4v6-t1-r1", "to-r2"), timeout=5, what="to-r2 up")
    delete_namespace("v4v6-t1-r1")
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence

#: Every namespace the lab creates starts with this.
NS_PREFIX = "v4v6-"

#: Linux interface names: at most 15 bytes, no '/', ':' or whitespace.
IFNAME_MAX = 15
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_NSNAME_RE = re.compile(r"^v4v6-[A-Za-z0-9_.-]{1,200}$")


class NetnsError(RuntimeError):
    """A namespace operation failed; the message is one line for the operator."""


def _check_ns(name: str) -> None:
    if not _NSNAME_RE.match(name):
        raise NetnsError(
            f"refusing namespace {name!r}: lab namespaces must be named {NS_PREFIX}<lab>-<node>"
        )


def _check_ifname(name: str) -> None:
    if not _IFNAME_RE.match(name):
        raise NetnsError(
            f"interface name {name!r} is not valid (1..{IFNAME_MAX} of A-Z a-z 0-9 _ . -)"
        )


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def run(
    cmd: Sequence[str], *, check: bool = True, timeout: float = 30.0, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture text output; with ``check`` raise NetnsError on failure."""
    try:
        proc = subprocess.run(
            list(cmd),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            check=False,
        )
    except FileNotFoundError:
        raise NetnsError(f"command not found: {cmd[0]}") from None
    except subprocess.TimeoutExpired:
        raise NetnsError(f"timed out after {timeout:g}s: {' '.join(cmd)}") from None
    if check and proc.returncode != 0:
        detail = _one_line(proc.stderr) or _one_line(proc.stdout) or f"exit {proc.returncode}"
        raise NetnsError(f"{' '.join(cmd)}: {detail}")
    return proc


def ns_exec(
    ns: str, *cmd: str, check: bool = True, timeout: float = 30.0, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` inside namespace ``ns`` (``ip netns exec``) and return its result."""
    if not cmd:
        raise NetnsError("ns_exec: no command given")
    return run(["ip", "netns", "exec", ns, *cmd], check=check, timeout=timeout, input=input)


def ip_batch(ns: str | None, commands: Sequence[str]) -> None:
    """Run many ``ip`` commands in one process (``ip -batch -``), optionally in ``ns``."""
    if not commands:
        return
    prefix = ["ip"] + (["-n", ns] if ns else [])
    run([*prefix, "-batch", "-"], input="\n".join(commands) + "\n")


def list_namespaces(prefix: str = NS_PREFIX) -> list[str]:
    """Names of existing namespaces that start with ``prefix`` (sorted)."""
    names: set[str] = set()
    with contextlib.suppress(FileNotFoundError):
        names.update(os.listdir("/run/netns"))
    return sorted(n for n in names if n.startswith(prefix))


def namespace_exists(name: str) -> bool:
    """True when ``/run/netns/<name>`` exists."""
    return os.path.exists(os.path.join("/run/netns", name))


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """SIGINT/SIGTERM wait until the body is done (then arrive as usual).

    A Ctrl-C in the middle of ``ip netns add`` would have ``subprocess`` kill the
    command half-way while its namespace may still come into being after the
    caller's clean-up looked; deferred, the interrupt comes once the namespace
    is whole and recorded, and the clean-up removes it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def create_namespace(name: str) -> None:
    """Create namespace ``name`` (must start with ``v4v6-``) and bring its loopback up."""
    _check_ns(name)
    if namespace_exists(name):
        raise NetnsError(f"namespace {name} already exists")
    with _interrupts_deferred():
        run(["ip", "netns", "add", name])
        run(["ip", "-n", name, "link", "set", "lo", "up"])


def namespace_pids(name: str) -> list[int]:
    """PIDs of processes running inside namespace ``name``."""
    proc = run(["ip", "netns", "pids", name], check=False)
    return [int(tok) for tok in proc.stdout.split() if tok.isdigit()]


def delete_namespace(name: str) -> bool:
    """Delete namespace ``name`` if it exists; returns True if it was there.

    Processes still running inside it are sent SIGKILL first (by PID), otherwise
    the namespace would outlive its name.
    """
    _check_ns(name)
    if not namespace_exists(name):
        return False
    for pid in namespace_pids(name):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    run(["ip", "netns", "del", name], check=False)
    if namespace_exists(name):
        # A busy mount can linger for a moment; retry once after polling.
        wait_until(
            lambda: run(["ip", "netns", "del", name], check=False).returncode == 0
            or not namespace_exists(name),
            timeout=5.0,
            what=f"namespace {name} deleted",
        )
    return True


def create_veth(ns_a: str, if_a: str, ns_b: str, if_b: str, *, mtu: int | None = None) -> None:
    """Create a veth pair with one end in each namespace.

    The pair is created directly inside the namespaces (never in the host
    namespace), so nothing is left behind if a namespace is deleted.
    """
    _check_ns(ns_a)
    _check_ns(ns_b)
    _check_ifname(if_a)
    _check_ifname(if_b)
    cmd = ["ip", "-n", ns_a, "link", "add", if_a]
    if mtu is not None:
        cmd += ["mtu", str(mtu)]
    cmd += ["type", "veth", "peer", "name", if_b, "netns", ns_b]
    run(cmd)


_SYSCTL_KEY = re.compile(r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_-]+)+$")
# Writes "$2" to "$1" for each pair of arguments: values never pass through the shell.
_WRITE_PAIRS = 'while [ $# -gt 0 ]; do printf "%s\\n" "$2" > "$1"; shift 2; done'


def set_sysctl(ns: str, key: str, value: str | int) -> None:
    """Set sysctl ``key`` inside namespace ``ns``."""
    set_sysctls(ns, {key: value})


def set_sysctls(ns: str, values: dict[str, str | int]) -> None:
    """Set several sysctls inside ``ns`` with one process (written under /proc/sys)."""
    if not values:
        return
    args: list[str] = []
    for key, value in values.items():
        if not _SYSCTL_KEY.match(key):
            raise NetnsError(f"{key!r} is not a sysctl name like net.ipv4.ip_forward")
        args += ["/proc/sys/" + key.replace(".", "/"), str(value)]
    proc = ns_exec(ns, "sh", "-e", "-c", _WRITE_PAIRS, "sh", *args, check=False)
    if proc.returncode != 0:
        detail = _one_line(proc.stderr).removeprefix("sh: 1: ")
        raise NetnsError(f"{ns}: cannot set sysctl: {detail or f'exit {proc.returncode}'}")


def link_is_up(ns: str, ifname: str) -> bool:
    """True when ``ifname`` in ``ns`` has operational state UP (or UNKNOWN for lo)."""
    proc = run(["ip", "-n", ns, "-j", "link", "show", "dev", ifname], check=False)
    if proc.returncode != 0:
        return False
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        return False
    return bool(data) and data[0].get("operstate") in ("UP", "UNKNOWN")


def wait_until(
    predicate: Callable[[], bool],
    timeout: float = 10.0,
    *,
    interval: float = 0.05,
    what: str = "condition",
) -> None:
    """Poll ``predicate`` until it returns True; raise NetnsError after ``timeout`` seconds.

    The poll interval grows from ``interval`` up to 0.5 s, so short waits stay
    fast and long waits stay cheap.
    """
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        if predicate():
            return
        now = time.monotonic()
        if now >= deadline:
            raise NetnsError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(min(delay, max(deadline - now, 0.0)))
        delay = min(delay * 1.5, 0.5)
