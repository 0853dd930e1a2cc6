"""Bounded, blocking D-Bus I/O over jeepney, for the Secret Service backend and ``doctor``.

* :class:`BoundedConnection` gives every call a deadline (Hello included), so a bus or a
  service that stops answering raises :class:`TimeoutError` instead of hanging;
* :func:`connect` opens one, turning connection failures into
  :class:`StorageUnavailableError`;
* :func:`get_property_many` reads one property of many objects with the requests in flight
  together (a round trip per batch rather than per object);
* :func:`name_owner` says which program owns a bus name, for messages.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from jeepney import DBusAddress, DBusErrorResponse, Message, MessageType, message_bus
from jeepney.io.blocking import DBusConnection

from mcp_router.errors import StorageUnavailableError

__all__ = ["BoundedConnection", "connect", "get_property_many", "name_owner"]

BATCH = 64  # requests in flight at once; dbus-daemon's default per-connection cap is 128


class BoundedConnection(DBusConnection):  # type: ignore[misc]
    """A blocking jeepney connection whose every call has a deadline, Hello included.

    ``secretstorage`` calls ``send_and_get_reply`` without a timeout; this default makes
    all of its calls bounded too.
    """

    def __init__(self, sock: Any, timeout: float) -> None:
        self.default_timeout = timeout
        super().__init__(sock)

    def send_and_get_reply(self, message: Message, *, timeout: float | None = None) -> Message:
        return super().send_and_get_reply(
            message, timeout=self.default_timeout if timeout is None else timeout
        )


def connect(address: str, timeout: float) -> BoundedConnection:
    from jeepney.bus import get_connectable_addresses
    from jeepney.io.blocking import prep_socket

    try:
        path = next(get_connectable_addresses(address))
        sock = prep_socket(path, timeout=timeout)
        try:
            return BoundedConnection(sock, timeout)  # says Hello, within the deadline
        except BaseException:
            sock.close()
            raise
    except TimeoutError as exc:
        raise StorageUnavailableError(
            f"the D-Bus session bus at {address} did not answer within {timeout:g} s",
            hint="check that the session's dbus-daemon is running",
        ) from exc
    except (OSError, RuntimeError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise StorageUnavailableError(
            f"cannot connect to the D-Bus session bus at {address}: {why}",
            hint="run inside a desktop or 'dbus-run-session' session, or use --backend file",
        ) from exc


def get_property_many(conn: DBusConnection, paths: list[str], destination: str,
                      interface: str, prop: str, timeout: float,
                      vanished: tuple[str, ...] = ()) -> list[Any]:
    """``prop`` of each object in ``paths`` (``{}`` for one whose error name ends with one
    of ``vanished``, e.g. deleted meanwhile). Other errors raise; time is bounded per batch.
    """
    from jeepney.low_level import HeaderFields
    from jeepney.wrappers import new_method_call

    results: list[Any] = [{} for _ in paths]
    for start in range(0, len(paths), BATCH):
        serials: dict[int, int] = {}
        for index in range(start, min(start + BATCH, len(paths))):
            message = new_method_call(
                DBusAddress(paths[index], destination, "org.freedesktop.DBus.Properties"),
                "Get", "ss", (interface, prop),
            )
            serial = next(conn.outgoing_serial)
            conn.send(message, serial=serial)
            serials[serial] = index
        deadline = time.monotonic() + timeout
        while serials:
            reply = conn.receive(timeout=max(0.0, deadline - time.monotonic()))
            index = serials.pop(reply.header.fields.get(HeaderFields.reply_serial, -1), -1)
            if index < 0:
                continue  # a signal, not one of our replies
            if reply.header.message_type == MessageType.method_return:
                results[index] = reply.body[0][1]
            else:
                error = str(reply.header.fields.get(HeaderFields.error_name, ""))
                if not (vanished and error.endswith(vanished)):
                    raise DBusErrorResponse(reply)  # not just an item deleted meanwhile
    return results


def name_owner(conn: DBusConnection, name: str) -> str | None:
    """``"<program> (pid N)"`` owning ``name``, ``"activatable ..."`` when D-Bus would start
    one on first use, or None when nothing can provide it."""
    from jeepney.io.blocking import Proxy

    bus = Proxy(message_bus, conn)
    if bus.NameHasOwner(name)[0]:
        try:
            (pid,) = bus.GetConnectionUnixProcessID(name)
        except DBusErrorResponse:
            return "a process on the session bus"
        return f"{_program(pid)} (pid {pid})"
    if name in bus.ListActivatableNames()[0]:
        return "activatable (not running; D-Bus starts it on first use)"
    return None


def _program(pid: int) -> str:
    """The program name of process ``pid`` (Linux /proc), for messages."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return "a process"
    return Path(argv0.decode(errors="replace")).name or "a process"
