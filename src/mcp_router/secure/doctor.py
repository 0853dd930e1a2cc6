"""``token doctor``: check, per platform, everything a secure store depends on.

Each check is data (:class:`Check`: name, status, detail, fix) so the CLI can print it as
text or JSON and tests can assert on it. :func:`diagnose` runs them and says which backend
``auto`` picks, why each other candidate was rejected, and whether any secure storage is
usable at all. Nothing is written, no secret is read and no unlock dialog is brought up;
the one external command (``sc`` on Windows) runs with a time limit.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from mcp_router.errors import ConfigError, MCPRouterError
from mcp_router.secure.environment import Environment, classify
from mcp_router.secure.registry import create_backend, platform_candidates, select_backend
from mcp_router.secure.store import StoreSettings

if TYPE_CHECKING:
    from mcp_router.secure.backends.secretservice import SecretServiceBackend

__all__ = ["Check", "Report", "Status", "diagnose"]

_COMMAND_TIMEOUT = 10.0
Runner = Callable[[list[str]], tuple[int, str]]


class Status(str, Enum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    """One thing checked: what, how it went, the details, and the fix when not OK."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"name": self.name, "status": self.status.value, "detail": self.detail,
                "fix": self.fix}


@dataclass
class Report:
    """All checks, ``auto``'s choice, and whether the configured store can be used."""

    environment: Environment
    checks: list[Check]
    backend: str | None  # what commands would use with these settings; None: nothing
    backend_description: str | None
    auto_backend: str | None
    auto_reason: str
    rejected: dict[str, str] = field(default_factory=dict)
    usable: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "environment": self.environment.to_json(),
            "checks": [c.to_json() for c in self.checks],
            "backend": self.backend,
            "backend_description": self.backend_description,
            "auto": {"backend": self.auto_backend, "reason": self.auto_reason,
                     "rejected": self.rejected},
            "usable": self.usable,
        }


def _run(argv: list[str]) -> tuple[int, str]:
    """Run a diagnostic command; (exit status, combined output). Never raises."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT,
                              check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return 127, f"{argv[0]}: command not found"
    except subprocess.TimeoutExpired:
        return 124, f"{argv[0]} did not finish within {_COMMAND_TIMEOUT:g} s"
    except OSError as exc:
        return 126, f"{argv[0]}: {exc.strerror}"
    return done.returncode, (done.stdout + done.stderr).strip()


def diagnose(settings: StoreSettings, *, run: Runner = _run,
             platform: str | None = None) -> Report:
    """Run every check that applies to this platform and settings."""
    platform = platform or sys.platform
    env = classify(platform=platform)
    checks = [Check("environment", Status.OK, env.summary())]
    if platform == "darwin":
        checks.append(_keychain_check(settings, env))
    elif platform == "win32":
        checks += _wincred_checks(run)
    else:
        checks += _secret_service_checks(settings, env)
    checks += [_machine_id_check(), *_file_checks(settings)]
    if settings.backend not in ("auto", "file", *platform_candidates(platform)):
        checks.append(_configured_check(settings))
    auto, reason, rejected = _auto_choice(settings, env, checks)
    backend, description, usable = _effective(settings)
    if not usable:
        checks.append(Check("usable store", Status.FAIL, "no secure storage is usable with "
                            "these settings", "fix a FAIL above, or choose another backend"))
    return Report(env, checks, backend, description, auto, reason, rejected, usable)


# -- Linux: Secret Service ---------------------------------------------------------------
def _secret_service_checks(settings: StoreSettings, env: Environment) -> list[Check]:
    try:
        backend = create_backend("secret-service", settings)
    except MCPRouterError as exc:
        return [Check("Secret Service", Status.FAIL, exc.message,
                      "install mcp-router's Linux dependencies (secretstorage, jeepney)")]
    from mcp_router.secure.backends.secretservice import SecretServiceBackend

    assert isinstance(backend, SecretServiceBackend)
    checks = [_bus_check(backend, env)]
    if checks[0].status is Status.FAIL:
        return checks
    checks.append(_provider_check(backend))
    if checks[-1].status is Status.FAIL:
        return checks
    checks.append(_unlocked_check(backend, env))
    backend.close()
    return checks


def _unlocked_check(backend: SecretServiceBackend, env: Environment) -> Check:
    name = "Secret Service unlocked"
    probe = backend.probe()
    try:
        state = backend.collection_state()
    except MCPRouterError as exc:
        return Check(name, Status.FAIL, exc.message, exc.hint)
    if state == "unlocked":
        return Check(name, Status.OK, probe.reason)
    if state == "missing":
        return Check(name, Status.FAIL, probe.reason, "create a keyring and make it the "
                     "default (Seahorse: 'Passwords and Keys')")
    if probe.ok:
        return Check(name, Status.WARN, probe.reason,
                     "unlock it when asked, or beforehand in Seahorse")
    return Check(name, Status.FAIL, probe.reason, _unlock_fix(env))


def _bus_check(backend: SecretServiceBackend, env: Environment) -> Check:
    name = "D-Bus session bus"
    address = env.dbus_address
    if not address:
        return Check(name, Status.FAIL, "DBUS_SESSION_BUS_ADDRESS is not set and "
                     "$XDG_RUNTIME_DIR/bus does not exist",
                     env.advice("secret-service") or "run 'dbus-run-session -- $SHELL'")
    try:
        backend.connection()
    except MCPRouterError as exc:
        return Check(name, Status.FAIL, exc.message,
                     "check DBUS_SESSION_BUS_ADDRESS; start a session bus with "
                     "'dbus-run-session -- $SHELL'")
    return Check(name, Status.OK, f"connected to {address}")


def _provider_check(backend: SecretServiceBackend) -> Check:
    name = "Secret Service reachable"
    try:
        provider = backend.provider()
    except MCPRouterError as exc:
        return Check(name, Status.FAIL, exc.message,
                     "restart the provider: systemctl --user restart gnome-keyring-daemon")
    if provider is None:
        return Check(name, Status.FAIL, "nothing provides org.freedesktop.secrets on the "
                     "session bus", "start one: systemctl --user start gnome-keyring-daemon "
                     "(or install gnome-keyring, KeePassXC or KWallet)")
    return Check(name, Status.OK, f"org.freedesktop.secrets: {provider}")


def _unlock_fix(env: Environment) -> str:
    if env.desktop:
        return "unlock the default keyring (Seahorse, 'Passwords and Keys') and retry"
    return ("the keyring can only be unlocked from the desktop session (no prompt can be "
            "shown here); unlock it there, or use the encrypted file: --backend file")


# -- macOS: Keychain -----------------------------------------------------------------------
def _keychain_check(settings: StoreSettings, env: Environment) -> Check:
    """The default keychain's lock state, read through Security.framework: unlike
    ``security show-keychain-info``, this never brings up the unlock dialog."""
    name = "keychain unlocked"
    try:
        backend = create_backend("keychain", settings)
        state = backend.keychain_state()  # type: ignore[attr-defined]
    except MCPRouterError as exc:
        return Check(name, Status.FAIL, exc.message, exc.hint)
    if state == "unlocked":
        return Check(name, Status.OK, "the default keychain is unlocked")
    if env.desktop:
        return Check(name, Status.WARN, "the default keychain is locked; macOS will ask "
                     "for its password when a token is used",
                     "unlock it beforehand: security unlock-keychain")
    return Check(name, Status.FAIL, "the default keychain is locked and no unlock dialog "
                 "can be shown here (SSH session)", "unlock it: security unlock-keychain")


# -- Windows: Credential Manager ------------------------------------------------------------
def _wincred_checks(run: Runner) -> list[Check]:
    code, output = run(["sc", "query", "VaultSvc"])
    name = "Credential Manager service"
    if code != 0:
        return [Check(name, Status.FAIL, output.splitlines()[-1] if output else
                      f"'sc query VaultSvc' failed (exit {code})",
                      "check the service: sc query VaultSvc; start it: sc start VaultSvc")]
    state = next((line.split(":", 1)[1].strip() for line in output.splitlines()
                  if line.strip().startswith("STATE")), "unknown")
    if "RUNNING" in state:
        return [Check(name, Status.OK, f"VaultSvc {state}")]
    return [Check(name, Status.WARN, f"VaultSvc {state} (it starts on demand)",
                  "if credential operations fail: sc start VaultSvc")]


# -- every platform -------------------------------------------------------------------------
def _machine_id_check() -> Check:
    from mcp_router.secure.encfile.machine import machine_id

    try:
        machine_id()
    except MCPRouterError as exc:
        return Check("machine id", Status.FAIL, exc.message, exc.hint)
    return Check("machine id", Status.OK, "readable (part of the encrypted file's key)")


def _file_checks(settings: StoreSettings) -> list[Check]:
    path = settings.resolved_file_path()
    protected = _file_has_passphrase(path)
    if protected is None:  # no file yet: a new one takes a passphrase if one is given then
        protected = bool(os.environ.get("MCP_ROUTER_PASSPHRASE"))
        when = "a new file will mix in a passphrase" if protected else "no passphrase"
    else:
        when = "with a passphrase" if protected else "no passphrase"
    key_note = (f"key from machine id + user id, {when}: a copied file does not open "
                "elsewhere" + (", and other programs running as you need the passphrase"
                               if protected else
                               ", but other programs running as you can open it (a "
                               "passphrase is chosen when the file is created: "
                               "MCP_ROUTER_PASSPHRASE)"))
    checks = []
    loose = [f"{p} is {oct(mode)}, expected {oct(want)}"
             for p, want in ((path.parent, 0o700), (path, 0o600))
             if (mode := _mode(p)) is not None and mode & ~want]
    if loose:
        checks.append(Check("file permissions", Status.WARN, "; ".join(loose),
                            f"chmod 700 {path.parent} && chmod 600 {path} "
                            "(or: mcp-router token repair --all)"))
    elif sys.platform != "win32":
        checks.append(Check("file permissions", Status.OK,
                            f"{path.parent} 0700, {path.name} 0600" if path.exists()
                            else f"{path} not created yet (will be 0600 in a 0700 directory)"))
    checks.append(Check("encrypted file", Status.OK, key_note))
    return checks


def _file_has_passphrase(path: Path) -> bool | None:
    """What the file's own header says (``None``: no readable file). The environment
    cannot tell: the choice is made when the file is created."""
    from mcp_router.secure.encfile.format import parse_file

    try:
        header, _ = parse_file(path.read_bytes())
    except (OSError, MCPRouterError):
        return None
    return header.passphrase


def _mode(path: Path) -> int | None:
    if sys.platform == "win32":
        return None
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None


def _configured_check(settings: StoreSettings) -> Check:
    name = f"configured backend '{settings.backend}'"
    try:
        backend = create_backend(settings.backend, settings)
        probe = backend.probe()
    except (ConfigError, MCPRouterError) as exc:
        return Check(name, Status.FAIL, exc.message, exc.hint)
    except Exception as exc:  # a plugin's bug must not take the whole report down
        return Check(name, Status.FAIL, f"its probe failed ({type(exc).__name__})",
                     "rerun with --debug, or report it to the backend's authors")
    if probe.ok:
        return Check(name, Status.OK, f"{backend.describe()}: {probe.reason}")
    return Check(name, Status.FAIL, probe.reason,
                 "fix its settings under advanced.secure_storage")


def _auto_choice(settings: StoreSettings, env: Environment, checks: list[Check]
                 ) -> tuple[str | None, str, dict[str, str]]:
    """What ``auto`` picks (fallback allowed), and each rejected candidate with its reason."""
    try:
        backend, selection = select_backend(replace(settings, backend="auto",
                                                    allow_fallback=True))
    except MCPRouterError as exc:
        checks.append(Check("auto selection", Status.FAIL, exc.message, exc.hint))
        return None, exc.message, {}
    rejected = {}
    for name, reason in selection.rejected.items():
        advice = env.advice(name, reason)
        rejected[name] = reason + (f" ({advice})" if advice else "")
    detail = f"picks {selection.backend}: {selection.reason}"
    if rejected:
        detail += f" (rejected: {', '.join(rejected)}; reasons below)"
    if not selection.fell_back:
        checks.append(Check("auto selection", Status.OK, detail))
    elif not settings.allow_fallback:
        checks.append(Check("auto selection", Status.FAIL,
                            detail + "; the fallback is disabled (allow_fallback: false)",
                            "fix the platform store (see above) or allow the fallback"))
    else:
        checks.append(Check("auto selection", Status.WARN, detail,
                            "fix the platform store (see above) to keep tokens there"))
    file_probe = backend.probe() if selection.backend == "file" else None
    if file_probe is not None and not file_probe.ok:
        checks.append(Check("encrypted file usable", Status.FAIL, file_probe.reason))
    return selection.backend, selection.reason, rejected


def _effective(settings: StoreSettings) -> tuple[str | None, str | None, bool]:
    """The backend commands would use with ``settings``, where, and whether it works now."""
    try:
        backend, _ = select_backend(settings)
        return backend.name, backend.describe(), backend.probe().ok
    except Exception:  # reported by the checks above; here it only means: unusable
        return None, None, False
