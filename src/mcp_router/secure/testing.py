"""The backend conformance suite, shipped for plugin authors.

Subclass :class:`BackendConformance` in a pytest module and provide a ``store_settings``
fixture returning the :class:`StoreSettings` that open your backend::

    from mcp_router.secure.testing import BackendConformance

    class TestMyBackend(BackendConformance):
        @pytest.fixture
        def store_settings(self, tmp_path):
            return StoreSettings(backend="mine", config_dir=tmp_path)

Every test goes through :func:`open_store`, so the layers (validation, metadata, locking)
are exercised together with the backend, as users meet them.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from mcp_router.errors import (
    InvalidTokenNameError,
    InvalidTokenValueError,
    TokenExistsError,
    TokenNotFoundError,
)
from mcp_router.secure.opener import SecureStore, open_store
from mcp_router.secure.store import StoreSettings
from mcp_router.secure.validation import MAX_NAME_LENGTH, MAX_VALUE_BYTES

__all__ = ["HOSTILE_NAMES", "BackendConformance"]

HOSTILE_NAMES = [
    "", " ", "a b", "a/b", "/etc/passwd", "..", "../x", ".hidden", "a\x00b", "tab\tname",
    "line\nbreak", "x" * (MAX_NAME_LENGTH + 1), "UPPER", "name;rm -rf ~", "$(id)", "{name}",
    "-flag", "trailing-", "é", "a\u202eb",
]


def _unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class BackendConformance:
    """Behaviour every backend must show. Requires a ``store_settings`` fixture."""

    @pytest.fixture
    def store(self, store_settings: StoreSettings) -> Iterator[SecureStore]:
        store = open_store(store_settings)
        yield store
        store.close()

    def test_store_and_retrieve(self, store: SecureStore) -> None:
        name, value = _unique(), "v-" + uuid.uuid4().hex
        store.store(name, value)
        assert store.retrieve(name) == value

    def test_overwrite_replaces_value(self, store: SecureStore) -> None:
        name = _unique()
        store.store(name, "first")
        store.store(name, "second")
        assert store.retrieve(name) == "second"
        assert [i.name for i in store.list()].count(name) == 1

    def test_delete_removes(self, store: SecureStore) -> None:
        name = _unique()
        store.store(name, "value")
        store.delete(name)
        with pytest.raises(TokenNotFoundError):
            store.retrieve(name)
        assert name not in {i.name for i in store.list()}

    def test_missing_token_errors(self, store: SecureStore) -> None:
        name = _unique("missing")
        with pytest.raises(TokenNotFoundError) as info:
            store.retrieve(name)
        assert isinstance(info.value, KeyError)
        assert name in str(info.value)
        with pytest.raises(TokenNotFoundError):
            store.delete(name)
        assert not store.exists(name)

    def test_list_is_sorted_and_names_backend(self, store: SecureStore) -> None:
        names = sorted(_unique(p) for p in ("c", "a", "b"))
        for name in reversed(names):
            store.store(name, "value-" + name)
        listed = [i for i in store.list() if i.name in names]
        assert [i.name for i in listed] == names
        assert all(i.backend == store.backend_name for i in listed)

    @pytest.mark.parametrize(
        "value",
        [
            "ключ-🔑-秘密-مفتاح",
            "  spaces at both ends  ",
            "multi\nline\r\nvalue\n",
            "quotes ' \" ` $HOME {name} %s \\",
            "\u00e9\u0301 combining",
        ],
        ids=["unicode", "spaces", "newlines", "shell-chars", "combining"],
    )
    def test_values_are_kept_exactly(self, store: SecureStore, value: str) -> None:
        name = _unique()
        store.store(name, value)
        assert store.retrieve(name) == value

    def test_largest_value(self, store: SecureStore) -> None:
        name = _unique()
        value = ("é" * (MAX_VALUE_BYTES // 2))  # exactly the limit in UTF-8 bytes
        assert len(value.encode()) == MAX_VALUE_BYTES
        store.store(name, value)
        assert store.retrieve(name) == value

    def test_bad_values_refused(self, store: SecureStore) -> None:
        for bad in ("", "x" * (MAX_VALUE_BYTES + 1), "\ud800"):
            with pytest.raises(InvalidTokenValueError):
                store.store(_unique(), bad)

    def test_names_at_the_limits(self, store: SecureStore) -> None:
        for name in ("a", "9", "a" * MAX_NAME_LENGTH, "prod-gateway-bearer-2024", "a.b_c-d"):
            store.store(name, "value")
            assert store.retrieve(name) == "value"
            store.delete(name)

    @pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
    def test_hostile_names_refused(self, store: SecureStore, name: str) -> None:
        with pytest.raises(InvalidTokenNameError):
            store.store(name, "value")
        with pytest.raises(InvalidTokenNameError):
            store.retrieve(name)

    def test_metadata_times(self, store: SecureStore) -> None:
        name = _unique()
        store.store(name, "one")
        info = store.info(name)
        assert info.created is not None and info.last_used is None and info.updated is None
        store.retrieve(name)
        assert store.info(name).last_used is not None
        store.store(name, "two")
        after = store.info(name)
        assert after.updated is not None and after.created == info.created

    def test_create_and_update_semantics(self, store: SecureStore) -> None:
        name = _unique()
        with pytest.raises(TokenNotFoundError):
            store.update(name, "value")
        store.create(name, "one")
        with pytest.raises(TokenExistsError):
            store.create(name, "two")
        store.create(name, "three", overwrite=True)
        store.update(name, "four")
        assert store.retrieve(name) == "four"

    def test_persists_across_opens(self, store: SecureStore, store_settings: StoreSettings
                                   ) -> None:
        name = _unique()
        store.store(name, "durable")
        again = open_store(store_settings)
        try:
            assert again.retrieve(name) == "durable"
        finally:
            again.close()

    def test_concurrent_writers_lose_nothing(self, store_settings: StoreSettings) -> None:
        prefix = _unique("c")
        errors: list[BaseException] = []

        def writer(worker: int) -> None:
            try:
                own = open_store(store_settings)
                for i in range(5):
                    own.store(f"{prefix}-{worker}-{i}", f"value-{worker}-{i}")
                own.close()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        check = open_store(store_settings)
        names = {i.name for i in check.list() if i.name.startswith(prefix)}
        assert len(names) == 30
        assert check.retrieve(f"{prefix}-3-4") == "value-3-4"
        check.close()

    def test_secret_not_in_repr_or_errors(self, store: SecureStore) -> None:
        name, secret = _unique(), "planted-" + uuid.uuid4().hex
        store.store(name, secret)
        assert secret not in repr(store)
        with pytest.raises(TokenExistsError) as info:
            store.create(name, secret)
        assert secret not in str(info.value)
