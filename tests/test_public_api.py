"""The public API: what is exported (and that docs/api.md says exactly that), the error
contract, ``Secret``, plugin registration, and the built-in backend declarations."""

from __future__ import annotations

import copy
import json
import logging
import pickle
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import mcp_router
import mcp_router.errors
import mcp_router.secure
from clirun import invoke
from mcp_router import (
    Backend,
    MCPRouterError,
    Secret,
    StoreSettings,
    TokenInfo,
    TokenNotFoundError,
    open_store,
    register_backend,
)
from mcp_router.secure import registry
from mcp_router.secure.testing import BackendConformance

ROOT = Path(__file__).resolve().parent.parent
API_DOC = ROOT / "docs" / "api.md"


# -- exported names -------------------------------------------------------------------------

def _isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: SCREAMING_CASE, then CamelCase, then everything else."""
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def documented_names(module: str) -> list[str]:
    """The first column of the table under ``### `module``` in docs/api.md."""
    text = API_DOC.read_text(encoding="utf-8")
    match = re.search(rf"^### `{re.escape(module)}`\n(.*?)(?=^#|\Z)", text, re.M | re.S)
    assert match, f"docs/api.md has no section for {module}"
    return re.findall(r"^\| `([^`]+)` +\|", match.group(1), re.M)


@pytest.mark.parametrize("module", [mcp_router, mcp_router.secure],
                         ids=lambda m: m.__name__)
def test_exports_are_sorted_and_documented(module: object) -> None:
    exported = list(module.__all__)  # type: ignore[attr-defined]
    assert exported == sorted(exported, key=_isort_key)
    assert len(set(exported)) == len(exported)
    for name in exported:
        assert hasattr(module, name), name
    assert sorted(documented_names(module.__name__)) == sorted(exported)  # type: ignore[attr-defined]


def test_documented_exit_codes_in_the_api_tables() -> None:
    text = API_DOC.read_text(encoding="utf-8")
    for name, code in re.findall(r"^\| `(\w+Error)` +\| [^|]*exit (\d+)", text, re.M):
        assert getattr(mcp_router, name).exit_code == int(code), name


def test_every_exported_error_has_an_exit_code() -> None:
    errors = [getattr(mcp_router.errors, n) for n in mcp_router.errors.__all__]
    errors += [obj for n in mcp_router.__all__
               if isinstance(obj := getattr(mcp_router, n), type)
               and issubclass(obj, BaseException)]
    for cls in errors:
        assert issubclass(cls, MCPRouterError), cls
        assert isinstance(cls.exit_code, int) and 1 <= cls.exit_code <= 125, cls
    # A code names one kind of failure: the classes sharing a code are one class and its
    # subclasses, never two unrelated classes.
    by_code: dict[int, set[type]] = {}
    for cls in errors:
        by_code.setdefault(cls.exit_code, set()).add(cls)
    for code, classes in by_code.items():
        assert any(all(issubclass(c, root) for c in classes) for root in classes), \
            (code, classes)


def test_token_not_found_is_a_key_error() -> None:
    error = TokenNotFoundError("gateway-token", backend="file")
    assert isinstance(error, KeyError) and isinstance(error, MCPRouterError)
    # KeyError's str() would quote the message; ours reads as a sentence.
    assert str(error).startswith("no token named 'gateway-token' in the file store (")
    store = open_store(backend="file")
    with pytest.raises(KeyError):
        store.retrieve("not-there")
    store.close()


def test_validation_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        mcp_router.secure.validate_name("Not Valid")
    with pytest.raises(ValueError):
        mcp_router.secure.validate_value("")


# -- Secret ------------------------------------------------------------------------------------

def test_secret_never_reveals_itself(caplog: pytest.LogCaptureFixture) -> None:
    value = "planted-secret-0c2f7a"
    secret = Secret(value)
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret!s}",
             "%s" % secret, "%r" % (secret,), format(secret),  # noqa: UP031
             repr([secret]), repr({"k": secret}), str((secret,))]
    for text in shown:
        assert value not in text
        assert "[secure]" in text
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").warning("token is %s", secret)
    assert value not in caplog.text
    for dump in (pickle.dumps, copy.copy, copy.deepcopy, json.dumps):
        with pytest.raises(TypeError) as info:
            dump(secret)
        assert value not in str(info.value)
    assert not hasattr(secret, "__dict__")
    assert secret.reveal() == value


def test_secret_compares_by_value_and_hashes_alike() -> None:
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert hash(Secret("a")) == hash(Secret("b"))  # the hash says nothing of the value
    assert len(Secret("abc")) == 3 and not Secret("")


# -- plugins -----------------------------------------------------------------------------------

class DictBackend(Backend):
    """A plugin defined here: tokens in a dict shared by every instance of one test."""

    name = "test-plugin"

    def __init__(self, shared: dict[str, str]) -> None:
        self._data = shared
        self._guard = threading.Lock()

    def store(self, name: str, token: str) -> None:
        with self._guard:
            self._data[name] = token

    def retrieve(self, name: str) -> str:
        with self._guard:
            if name not in self._data:
                raise TokenNotFoundError(name, backend=self.name)
            return self._data[name]

    def delete(self, name: str) -> None:
        with self._guard:
            if self._data.pop(name, None) is None:
                raise TokenNotFoundError(name, backend=self.name)

    def list(self) -> list[TokenInfo]:
        with self._guard:
            return [TokenInfo(name=n, backend=self.name) for n in sorted(self._data)]


@pytest.fixture
def plugin(config_dir: Path) -> Iterator[dict[str, str]]:
    shared: dict[str, str] = {}
    register_backend("test-plugin", lambda settings: DictBackend(shared))
    yield shared
    registry._registered.pop("test-plugin", None)


def test_register_backend_makes_a_plugin_usable(plugin: dict[str, str],
                                                config_dir: Path) -> None:
    assert "test-plugin" in mcp_router.secure.available_backends()
    store = open_store(backend="test-plugin", config_dir=config_dir)
    assert store.backend_name == "test-plugin"
    assert store.selection.reason == "configured explicitly"
    store.store("gateway-token", "v")
    assert plugin == {"gateway-token": "v"}
    assert store.info("gateway-token").created is not None  # the metadata layer is there
    store.close()
    # ... and through the CLI, by name
    result = invoke("token", "list", backend="test-plugin")
    assert result.exit_code == 0 and result.stdout.split()[3] == "gateway-token"


def test_register_backend_refuses_bad_names() -> None:
    for bad in ("", "auto"):
        with pytest.raises(ValueError):
            register_backend(bad, lambda settings: DictBackend({}))


def test_a_plugin_that_fails_to_import_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed plugin whose import fails: a one-line error (exit 6), not a crash."""
    import importlib.metadata

    from mcp_router.secure.registry import ENTRY_POINT_GROUP

    broken = importlib.metadata.EntryPoint(name="broken-plugin", group=ENTRY_POINT_GROUP,
                                           value="no_such_module_anywhere:create")
    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda group=None: [broken] if group == ENTRY_POINT_GROUP else [])
    result = invoke("token", "list", backend="broken-plugin")
    assert result.exit_code == 6, result.output
    assert result.stderr.startswith("error: the 'broken-plugin' backend plugin "
                                    "(no_such_module_anywhere:create) cannot be loaded")
    assert "Traceback" not in result.stderr


class TestPluginConformance(BackendConformance):
    """The shipped conformance suite accepts a plugin registered from a test."""

    @pytest.fixture
    def store_settings(self, plugin: dict[str, str], config_dir: Path) -> StoreSettings:
        return StoreSettings(backend="test-plugin", config_dir=config_dir)


def _python_blocks() -> list[str]:
    text = API_DOC.read_text(encoding="utf-8")
    return re.findall(r"^```python\n(.*?)^```", text, re.M | re.S)


def test_the_api_doc_examples_run(config_dir: Path, capsys: pytest.CaptureFixture[str]
                                  ) -> None:
    blocks = _python_blocks()
    example, secret_example, plugin_example = blocks[0], blocks[1], blocks[2]
    exec(compile(example, "docs/api.md example", "exec"), {})  # noqa: S102
    exec(compile(secret_example, "docs/api.md Secret", "exec"), {})  # noqa: S102
    assert capsys.readouterr().out.endswith("using [secure]\n")
    namespace: dict[str, object] = {}
    exec(compile(plugin_example, "docs/api.md plugin", "exec"), namespace)  # noqa: S102
    register_backend("vault", namespace["create"])  # type: ignore[arg-type]
    try:
        store = open_store(backend="vault", config_dir=config_dir)
        store.store("gateway-token", "v")
        assert store.retrieve("gateway-token") == "v"
        assert [i.name for i in store.list()] == ["gateway-token"]
        store.close()
    finally:
        registry._registered.pop("vault", None)


# -- entry points -------------------------------------------------------------------------------

def _pyproject() -> dict[str, object]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        tomllib = pytest.importorskip("tomli")
    with open(ROOT / "pyproject.toml", "rb") as fh:
        data: dict[str, object] = tomllib.load(fh)
    return data


def test_entry_points_equal_the_builtin_table() -> None:
    declared = _pyproject()["project"]["entry-points"][registry.ENTRY_POINT_GROUP]  # type: ignore[index]
    assert declared == registry._BUILTINS
    assert registry.ENTRY_POINT_GROUP == "mcp_router.backends"


def test_builtin_backend_names_are_the_documented_ones() -> None:
    for name in ("file", "secret-service", "keychain", "wincred", "custom", "pkcs11"):
        assert name in registry._BUILTINS
    assert mcp_router.secure.BACKEND_NAMES[0] == "auto"
    assert set(mcp_router.secure.BACKEND_NAMES[1:]) == set(registry._BUILTINS)


def test_console_script_and_package_version() -> None:
    project = _pyproject()["project"]
    assert project["scripts"] == {"mcp-router": "mcp_router.cli:main"}  # type: ignore[index]
    assert project["version"] == mcp_router.__version__  # type: ignore[index]
