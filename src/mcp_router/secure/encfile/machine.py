"""The machine id and user id that the encrypted file's key is derived from.

These are not secrets: any process of any user on the machine can read the machine id.
The key they derive ties a file to one machine and one account, so that a copied file does
not open elsewhere; it does not protect against other processes of the same user. A
passphrase (``MCP_ROUTER_PASSPHRASE``) adds that protection.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mcp_router.errors import StorageUnavailableError

__all__ = ["machine_id", "user_id"]

_LINUX_PATHS = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
#: systemd writes this into /etc/machine-id in images before first boot; it is the same on
#: every such machine (or container), so it must not be used as an identity.
_UNSET_MARKER = "uninitialized"


def machine_id() -> str:
    """A stable identifier of this machine (OS install), as text."""
    if sys.platform == "darwin":  # pragma: no cover - macOS CI
        return _macos_platform_uuid()
    if sys.platform == "win32":  # pragma: no cover - Windows CI
        return _windows_machine_guid()
    for path in _LINUX_PATHS:
        try:
            value = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if value and value != _UNSET_MARKER:
            return value
    raise StorageUnavailableError(
        "cannot read a machine id from /etc/machine-id or /var/lib/dbus/machine-id",
        hint="create one with 'systemd-machine-id-setup' or 'dbus-uuidgen --ensure'",
    )


def user_id() -> str:
    """The current OS account: the numeric uid on POSIX, DOMAIN\\user on Windows."""
    if sys.platform == "win32":  # pragma: no cover - Windows CI
        domain = os.environ.get("USERDOMAIN", "")
        return f"{domain}\\{os.environ.get('USERNAME', '')}"
    return str(os.getuid())


def _macos_platform_uuid() -> str:  # pragma: no cover - macOS CI
    import subprocess  # only macOS needs it; token get on Linux should not pay for it

    out = subprocess.run(
        ["/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice"],
        capture_output=True, text=True, timeout=10, check=False,
    ).stdout
    for line in out.splitlines():
        if "IOPlatformUUID" in line:
            return line.split("=", 1)[1].strip().strip('"')
    raise StorageUnavailableError("cannot read IOPlatformUUID from ioreg")


def _windows_machine_guid() -> str:  # pragma: no cover - Windows CI
    if sys.platform == "win32":  # (also tells type checkers that winreg exists here)
        import winreg

        key = winreg.OpenKey(
            winreg.HKEY_LOCAL_MACHINE,
            r"SOFTWARE\Microsoft\Cryptography",
            0,
            winreg.KEY_READ | winreg.KEY_WOW64_64KEY,
        )
        with key:
            value, _ = winreg.QueryValueEx(key, "MachineGuid")
        return str(value)
    raise StorageUnavailableError("the Windows MachineGuid exists only on Windows")
