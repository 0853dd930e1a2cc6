"""``mcp-router setup``: store the gateway credential and write a config that refers to it.

Interactive on a terminal (the secret is asked for hidden, twice); every answer also has a
flag, so scripts run it with ``--gateway-url ... --secret-stdin`` and no terminal. The
written file holds no secret: only ``token_secure_key`` / ``client_secret_secure_key``
names. The store is the one the token was saved in, written out explicitly so that a
later run resolves the token in the same place. ``config check`` runs on the result.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import click

from mcp_router.cli.config import run_check
from mcp_router.cli.context import AppContext
from mcp_router.cli.inputs import is_interactive, read_value
from mcp_router.cli.setup_render import Answers, render_config, write_private
from mcp_router.errors import (
    AlreadyExistsError,
    ConfigError,
    ConfirmationRequiredError,
    CorruptStoreError,
    InvalidTokenNameError,
    TokenExistsError,
)
from mcp_router.secret import Secret
from mcp_router.secure.opener import SecureStore, open_store
from mcp_router.secure.store import StoreSettings
from mcp_router.secure.validation import validate_name

__all__ = ["default_target", "setup"]

pass_app = click.make_pass_decorator(AppContext, ensure=True)


def default_target() -> Path:
    """The existing per-user config, else ``~/.config/mcp/mcp-router.yaml``."""
    home = Path.home() / ".config"
    for candidate in (home / "claude-cli" / "mcp-router.yaml", home / "mcp" / "mcp-router.yaml"):
        if candidate.is_file():
            return candidate
    return home / "mcp" / "mcp-router.yaml"


@dataclass
class SecretSource:
    """Where the one secret given by flags comes from (``--secret-stdin/--secret-file``)."""

    stdin: bool = False
    file: Path | None = None

    @property
    def given(self) -> bool:
        return self.stdin or self.file is not None


@click.command()
@click.option("--config", "config_path", metavar="PATH",
              help="Where to write the config (default: ~/.config/mcp/mcp-router.yaml).")
@click.option("--gateway-url", metavar="URL", help="The gateway, https:// or wss://.")
@click.option("--auth", "auth_type", type=click.Choice(["bearer", "oauth2"]),
              help="How the router authenticates to the gateway.")
@click.option("--token-name", metavar="NAME",
              help="Token name in secure storage (bearer: the token; oauth2: the client "
              "secret). Default: gateway-token / oauth-secret.")
@click.option("--secret-stdin", is_flag=True,
              help="Read the token (bearer) or client secret (oauth2) from stdin.")
@click.option("--secret-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Read the token or client secret from a file.")
@click.option("--client-id", metavar="ID", help="oauth2: the client id.")
@click.option("--token-endpoint", metavar="URL", help="oauth2: the token endpoint.")
@click.option("--scope", "scopes", multiple=True, metavar="SCOPE",
              help="oauth2: a scope to request (repeatable).")
@click.option("--force", is_flag=True,
              help="Overwrite an existing config file and replace an existing token.")
@pass_app
@click.pass_context
def setup(ctx: click.Context, app: AppContext, config_path: str | None,
          gateway_url: str | None, auth_type: str | None, token_name: str | None,
          secret_stdin: bool, secret_file: Path | None, client_id: str | None,
          token_endpoint: str | None, scopes: tuple[str, ...], force: bool) -> None:
    """Store the gateway credential securely and write a config that refers to it.

    On a terminal, asks for each answer (the secret with a hidden prompt); without one,
    takes them from the options. Runs 'config check' on the file it wrote.
    """
    if secret_stdin and secret_file:
        raise click.UsageError("choose one of --secret-stdin, --secret-file")
    target = Path(config_path or app.config_path or default_target()).expanduser()
    # stdin carries the secret with --secret-stdin, so nothing else may be asked there.
    ask = Asker(is_interactive() and not secret_stdin)
    _check_target(target, force, ask)
    settings = _settings(app, target, force)
    store = open_store(settings)
    try:
        answers = Answers(
            gateway_url=ask.url("Gateway URL (https://... or wss://...)", gateway_url,
                                "--gateway-url", ("https", "http", "wss", "ws")),
            auth_type=ask.choice("Authentication type", auth_type, ("bearer", "oauth2"),
                                 "--auth"),
        )
        source = SecretSource(secret_stdin, secret_file)
        if answers.auth_type == "oauth2":
            answers.client_id = ask.text("OAuth2 client id", client_id, "--client-id")
            answers.token_endpoint = ask.url("OAuth2 token endpoint", token_endpoint,
                                             "--token-endpoint", ("https", "http"))
            answers.scopes = scopes or tuple(
                ask.text("Scopes, separated by spaces (empty for none)", None, "--scope",
                         default="").split())
            answers.secret_name = ask.name("Name for the client secret in secure storage",
                                           token_name, "oauth-secret")
            _store_secret(store, answers.secret_name, source, ask, force,
                          prompt="OAuth2 client secret")
        else:
            answers.secret_name = ask.name("Name for the token in secure storage",
                                           token_name, "gateway-token")
            _store_secret(store, answers.secret_name, source, ask, force,
                          prompt="Gateway token")
        answers.storage = _storage_section(store, settings)
    finally:
        store.close()
    backup = write_private(target, render_config(answers))
    click.echo(f"wrote {target}" + (f" (previous file kept as {backup})" if backup else ""),
               err=True)
    code = run_check(replace(app, config_path=str(target)), target)
    if code:
        ctx.exit(code)


class Asker:
    """Each answer from its flag, else from a prompt, else a clear error."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive

    def _need(self, flag: str) -> None:
        if not self.interactive:
            raise ConfirmationRequiredError(
                f"setup needs {flag} when there is no terminal to ask on",
                hint=f"pass {flag} (see 'mcp-router setup --help')")

    def text(self, question: str, given: str | None, flag: str, *,
             default: str | None = None) -> str:
        if given is not None:
            return given
        self._need(flag)
        return str(click.prompt(question, default=default, err=True,
                                show_default=bool(default)))

    def choice(self, question: str, given: str | None, options: tuple[str, ...],
               flag: str) -> str:
        if given is not None:
            return given
        if not self.interactive:
            return options[0]
        return str(click.prompt(question, type=click.Choice(options), default=options[0],
                                err=True))

    def url(self, question: str, given: str | None, flag: str,
            schemes: tuple[str, ...]) -> str:
        def check(value: str) -> str:
            parts = urlsplit(value.strip())
            if parts.scheme not in schemes or not parts.hostname:
                raise click.BadParameter("expected a URL starting with " + " or ".join(
                    f"{s}://" for s in schemes))
            return value.strip()

        if given is not None:
            try:
                return check(given)
            except click.BadParameter as exc:
                raise click.BadParameter(exc.message, param_hint=flag) from None
        self._need(flag)
        return str(click.prompt(question, value_proc=check, err=True))

    def name(self, question: str, given: str | None, default: str) -> str:
        def check(value: str) -> str:
            try:
                return validate_name(value.strip())
            except InvalidTokenNameError as exc:
                raise click.BadParameter(str(exc)) from None

        if given is not None:
            return validate_name(given)
        if not self.interactive:
            return default
        return str(click.prompt(question, default=default, value_proc=check, err=True))

    def confirm(self, question: str, *, default: bool) -> bool:
        return bool(click.confirm(question, default=default, err=True))


def _check_target(target: Path, force: bool, ask: Asker) -> None:
    if not target.exists() or force:
        return
    if not ask.interactive:
        raise AlreadyExistsError(f"{target} already exists", hint="pass --force to replace "
                                 "it (the old file is kept as .bak)")
    if not ask.confirm(f"{target} exists. Replace it (the old file is kept as .bak)?",
                       default=False):
        raise click.exceptions.Abort()


def _settings(app: AppContext, target: Path, force: bool) -> StoreSettings:
    """The store of the config being replaced (if it is valid), else the default."""
    from mcp_router.config.storage import storage_settings

    base = StoreSettings()
    if target.is_file():
        try:
            base = storage_settings(target)
        except ConfigError:
            if not force:
                raise
    return app.applied_to(base)


def _store_secret(store: SecureStore, name: str, source: SecretSource, ask: Asker,
                  force: bool, *, prompt: str) -> None:
    exists = store.exists(name)
    if not source.given:
        if exists and not force and (not ask.interactive or ask.confirm(
                f"A token named '{name}' is already stored. Use it as it is?", default=True)):
            click.echo(f"using the token '{name}' already in the {store.backend_name} store",
                       err=True)
            return
        if not ask.interactive:
            raise ConfirmationRequiredError(
                f"no value for the token '{name}' and no terminal to ask on",
                hint="pass --secret-stdin or --secret-file, or store it first with "
                f"'mcp-router token set --name {name}'")
        force = True  # the person chose to replace it
    elif exists and not force:
        raise TokenExistsError(name)
    secret = read_value(None, source.file, source.stdin, prompt=prompt)
    store.create(name, secret.reveal(), overwrite=force)
    if Secret(store.retrieve(name)) != secret:
        raise CorruptStoreError(f"the token '{name}' reads back different from what was "
                                "stored", hint="check the store with 'mcp-router token doctor'")
    click.echo(f"stored '{name}' in the {store.backend_name} store", err=True)


def _storage_section(store: SecureStore, settings: StoreSettings) -> dict[str, object]:
    """``advanced.secure_storage`` naming the store the token is in, with the options of
    the config being replaced that belong to that store."""
    from mcp_router.config.storage_section import STORAGE_KEYS

    backend = store.selection.backend
    section: dict[str, object] = {"backend": backend}
    if settings.file_path is not None:
        section["file_path"] = str(settings.file_path)
    if settings.options.get("file_passphrase"):
        section["file_passphrase"] = True
    prefix = {"custom": "custom_", "pkcs11": "pkcs11_",
              "secret-service": "secret_service_"}.get(backend)
    plugin: dict[str, object] = {}
    for key, value in settings.options.items():
        if prefix and key.startswith(prefix):
            section[key] = value
        elif key not in STORAGE_KEYS:
            plugin[key] = value
    if plugin and backend == settings.backend:
        section["options"] = plugin
    return section
