"""What kind of machine and session this is, and what that means for credential stores.

The most common question about any keyring tool is "why did it not use my keyring?". The
answer is nearly always the environment: an SSH login has no desktop session and so no
unlocked keyring, a container has no session bus, WSL has neither the Windows Credential
Manager (it belongs to Windows processes) nor, usually, a Secret Service. :func:`classify`
detects these from environment variables and a few files (no process is started, nothing is
written), and :meth:`Environment.advice` turns a rejected backend's reason into a
suggestion that fits the situation.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Environment", "classify", "prompt_possible", "session_bus_address"]

_CONTAINER_CGROUP_MARKERS = ("docker", "kubepods", "containerd", "lxc", "libpod")


@dataclass(frozen=True)
class Environment:
    """Facts about this machine and session that decide which stores can work."""

    platform: str
    wsl: bool = False
    container: str | None = None
    ssh: bool = False
    desktop: bool = False
    dbus_address: str | None = None
    ci: bool = False

    @property
    def platform_name(self) -> str:
        if self.platform.startswith("linux"):
            return "Linux"
        return {"darwin": "macOS", "win32": "Windows"}.get(self.platform, self.platform)

    def traits(self) -> list[str]:
        """Short phrases describing the session, e.g. ``["WSL", "SSH session"]``."""
        traits = []
        if self.wsl:
            traits.append("WSL")
        if self.container:
            traits.append(f"container ({self.container})")
        if self.ssh:
            traits.append("SSH session")
        if self.ci:
            traits.append("CI")
        if self.platform.startswith("linux"):
            traits.append("graphical session" if self.desktop else "no graphical session")
            traits.append("session bus found" if self.dbus_address else "no D-Bus session bus")
        return traits

    def summary(self) -> str:
        traits = self.traits()
        return self.platform_name + (f" ({', '.join(traits)})" if traits else "")

    def advice(self, backend: str, reason: str = "") -> str | None:
        """Why ``backend`` is likely unusable in this environment, and what to do; or None.

        ``reason`` is the backend's own rejection reason: a locked store gets advice about
        unlocking, an unreachable one about the session it needs.
        """
        if backend == "keychain":
            if self.ssh:
                return ("over SSH the login keychain is often locked: run "
                        "'security unlock-keychain' in this session first")
            return None
        if backend != "secret-service":
            return None
        if "locked" in reason:
            if not self.desktop:
                return ("keyrings are unlocked by the desktop login and can only prompt in a "
                        "graphical session; unlock it there, or use the encrypted file here")
            return None
        if self.wsl:
            return ("under WSL, Linux programs cannot use the Windows Credential Manager and "
                    "there is usually no Secret Service; the encrypted file is the usual store "
                    "here (or run gnome-keyring in a 'dbus-run-session')")
        if self.container:
            return ("containers normally have no session bus or keyring; use the encrypted "
                    "file, or mount the host's secrets in another way")
        if self.ssh and not self.desktop:
            return ("an SSH session without a desktop has no unlocked keyring: keyrings are "
                    "unlocked by the desktop login; use the encrypted file here, or start "
                    "'dbus-run-session -- $SHELL' and unlock gnome-keyring in it")
        if not self.dbus_address:
            return ("no D-Bus session bus: start one with 'dbus-run-session -- $SHELL' (or "
                    "log in to a desktop session)")
        return None

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = asdict(self)
        data["summary"] = self.summary()
        return data


def classify(environ: Mapping[str, str] | None = None, *, platform: str | None = None,
             root: Path = Path("/")) -> Environment:
    """Detect the environment from ``environ`` (default ``os.environ``) and files under ``root``."""
    env = os.environ if environ is None else environ
    platform = platform or sys.platform
    linux = platform.startswith("linux")
    return Environment(
        platform=platform,
        wsl=linux and _is_wsl(env, root),
        container=_container(env, root) if linux else None,
        ssh=any(env.get(k) for k in ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY")),
        desktop=_desktop(env, platform),
        dbus_address=session_bus_address(env) if linux else None,
        ci=env.get("CI", "").lower() in {"1", "true", "yes"},
    )


def session_bus_address(environ: Mapping[str, str] | None = None) -> str | None:
    """The session bus address: ``DBUS_SESSION_BUS_ADDRESS``, else ``$XDG_RUNTIME_DIR/bus``.

    The fallback is what libdbus and sd-bus do: a systemd user session (also over SSH)
    has its bus socket there even when the variable is not exported.
    """
    env = os.environ if environ is None else environ
    address = env.get("DBUS_SESSION_BUS_ADDRESS")
    if address:
        return address
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        socket_path = Path(runtime) / "bus"
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(socket_path.stat().st_mode):
                return f"unix:path={socket_path}"
    return None


def prompt_possible(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a keyring can show an unlock prompt here: a graphical session is present."""
    env = os.environ if environ is None else environ
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def _desktop(env: Mapping[str, str], platform: str) -> bool:
    if platform.startswith("linux"):
        return prompt_possible(env)
    # macOS and Windows: a local login is a desktop session; an SSH login is not.
    return not any(env.get(k) for k in ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _is_wsl(env: Mapping[str, str], root: Path) -> bool:
    if env.get("WSL_DISTRO_NAME") or env.get("WSL_INTEROP"):
        return True
    release = _read(root / "proc/sys/kernel/osrelease").lower()
    return "microsoft" in release or "wsl" in release


def _container(env: Mapping[str, str], root: Path) -> str | None:
    if (root / ".dockerenv").exists():
        return "docker"
    if (root / "run/.containerenv").exists():
        return "podman"
    if env.get("KUBERNETES_SERVICE_HOST"):
        return "kubernetes"
    if env.get("container"):  # set by systemd-nspawn, podman, LXC init
        return env["container"]
    cgroup = _read(root / "proc/1/cgroup")
    for marker in _CONTAINER_CGROUP_MARKERS:
        if marker in cgroup:
            return marker
    return None
