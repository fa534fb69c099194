"""Talk to systemd's service manager over ``$NOTIFY_SOCKET``; a no-op outside systemd.

Stdlib only (no python-systemd): the protocol is one datagram of ``KEY=value`` lines
sent to a Unix socket, whose address starts with ``@`` for the abstract namespace.
The daemon calls :func:`ready` once it is watching, :func:`watchdog_ping` from its main
loop only while that loop makes progress, :func:`reloading` on SIGHUP and
:func:`stopping` on SIGTERM.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


def notify(*fields: str) -> bool:
    """Send ``fields`` (``"READY=1"``, ...) to the service manager; False when none listens."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        target = "\0" + address[1:]
    elif address.startswith("/"):
        target = address
    else:
        log.debug("%s: NOTIFY_SOCKET address kind not supported, not notifying", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(target)
            sock.sendall("\n".join(fields).encode("utf-8"))
    except OSError as exc:
        log.warning("%s: cannot notify systemd (%s): %s", address, fields[0], exc)
        return False
    return True


def ready(status: str = "") -> bool:
    """The service is up: ``Type=notify`` units count as started from here on."""
    return notify("READY=1", *_status(status))


def reloading() -> bool:
    """A reload has begun; send :func:`ready` when it is over (MONOTONIC_USEC for systemd >= 253)."""
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}")


def stopping(status: str = "") -> bool:
    return notify("STOPPING=1", *_status(status))


def status(text: str) -> bool:
    """A one-line state shown by ``systemctl status``."""
    return notify(f"STATUS={text}")


def watchdog_ping() -> bool:
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """Seconds within which systemd expects a ping (``WatchdogSec=``), None when not asked.

    ``WATCHDOG_PID`` names the process meant; a child that inherited the variables
    must not ping on the parent's behalf.
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000


def _status(text: str) -> list[str]:
    return [f"STATUS={text}"] if text else []
