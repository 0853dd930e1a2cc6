"""Reading a composed YAML node tree with line numbers, collecting every problem.

PyYAML's ``compose`` keeps each node's position (``start_mark``), which plain
``safe_load`` throws away. :class:`Section` reads one mapping key by key; whatever is left
unread when :meth:`Section.finish` runs is an unknown key, reported with a did-you-mean.

Error messages never quote a value from the file (a person may paste a token into the
wrong key); they name the file, line and key and say what was expected.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mcp_router.config.schema import ConfigWarning, Origin

__all__ = ["ConfigProblem", "Context", "Section"]

_TAG = "tag:yaml.org,2002:"
_KIND = {
    "str": "a string", "int": "an integer", "float": "a number", "bool": "true/false",
    "null": "nothing (null)", "timestamp": "a date", "binary": "binary data",
}


@dataclass(frozen=True)
class ConfigProblem:
    """One reason the file does not validate."""

    origin: Origin
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.message}"


@dataclass
class Context:
    """State shared while one file is read: where it is, and what went wrong."""

    file: str
    loader: yaml.SafeLoader
    problems: list[ConfigProblem] = field(default_factory=list)
    warnings: list[ConfigWarning] = field(default_factory=list)

    def origin(self, node: Node, key: str) -> Origin:
        return Origin(self.file, node.start_mark.line + 1, key)

    def error(self, node: Node, key: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.origin(node, key), message))

    def warn(self, node: Node, key: str, message: str) -> None:
        self.warnings.append(ConfigWarning(self.origin(node, key), message))

    def value(self, node: Node) -> Any:
        """The Python value of a node (scalars, lists and mappings alike)."""
        return self.loader.construct_object(node, deep=True)


def describe(node: Node) -> str:
    """What kind of value a node holds, for "expected X, got Y" (never the value)."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    tag = node.tag[len(_TAG):] if node.tag.startswith(_TAG) else node.tag
    return _KIND.get(tag, "a value")


def is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _TAG + "null"


def printable_key(key: str) -> str:
    shown = key if len(key) <= 40 else key[:40] + "..."
    return shown if shown.isprintable() and shown.isascii() else ascii(shown)


class Section:
    """One YAML mapping, read key by key. ``path`` is its dotted key path."""

    def __init__(self, ctx: Context, node: MappingNode, path: str,
                 anchor: Node | None = None) -> None:
        self.ctx = ctx
        self.node = node
        self.path = path
        #: Where "missing key" problems point: the line of this section's own key.
        self.anchor = anchor if anchor is not None else node
        self._entries: dict[str, tuple[Node, Node]] = {}
        self._taken: set[str] = set()
        self._overridable: set[str] = set()
        own = sum(1 for key, _ in node.value if key.tag != _TAG + "merge")
        ctx.loader.flatten_mapping(node)  # YAML merge keys (<<: *defaults) become plain keys
        merged = len(node.value) - own  # flatten_mapping puts merged pairs first
        for index, (key_node, value_node) in enumerate(node.value):
            self._add(key_node, value_node, overridable=index < merged)

    def _add(self, key_node: Node, value_node: Node, *, overridable: bool = False) -> None:
        if not (isinstance(key_node, ScalarNode) and key_node.tag == _TAG + "str"):
            self.ctx.error(key_node, self.path or "(top level)",
                           f"keys must be plain names, got {describe(key_node)}")
            return
        key = key_node.value
        if key in self._overridable:  # a merged default, replaced by an explicit key
            self._overridable.discard(key)
        elif key in self._entries:
            first = self._entries[key][0].start_mark.line + 1
            self.ctx.error(key_node, self.key(key),
                           f"duplicate key (first given on line {first})")
            return
        self._entries[key] = (key_node, value_node)
        if overridable:
            self._overridable.add(key)

    def keys(self) -> list[str]:
        """The keys written in this mapping, in file order."""
        return list(self._entries)

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        entry = self._entries.get(name)
        return entry is not None and not is_null(entry[1])

    def key_node(self, name: str) -> Node:
        return self._entries[name][0] if name in self._entries else self.node

    def peek(self, name: str) -> Node | None:
        """The value node of ``name`` (``None`` when absent or null), without reading it."""
        entry = self._entries.get(name)
        if entry is None or is_null(entry[1]):
            return None
        return entry[1]

    def take(self, name: str) -> Node | None:
        """The value node of ``name`` (``None`` when absent or null); marks it as read."""
        self._taken.add(name)
        entry = self._entries.get(name)
        if entry is None or is_null(entry[1]):
            return None
        return entry[1]

    def error(self, name: str, message: str, node: Node | None = None) -> None:
        self.ctx.error(node if node is not None else self.key_node(name), self.key(name),
                       message)

    def missing(self, name: str, example: str) -> None:
        self.ctx.error(self.anchor, self.key(name), f"required key is missing (e.g. {example})")

    # -- typed getters: each returns the default and records a problem when wrong ------
    def scalar(self, name: str, tags: tuple[str, ...], expected: str) -> Any:
        node = self.take(name)
        if node is None:
            return None
        if not isinstance(node, ScalarNode) or node.tag not in {_TAG + t for t in tags}:
            hint = " (quote it)" if "str" in tags and isinstance(node, ScalarNode) else ""
            self.error(name, f"expected {expected}, got {describe(node)}{hint}", node)
            return None
        return self.ctx.value(node)

    def string(self, name: str, default: str | None = None) -> str | None:
        value = self.scalar(name, ("str",), "a string")
        if value is not None and not value.strip():
            self.error(name, "expected a non-empty string")
            return default
        return default if value is None else value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.scalar(name, ("bool",), "true or false")
        return default if value is None else bool(value)

    def number(self, name: str, default: float, *, positive: bool = True) -> float:
        value = self.scalar(name, ("int", "float"), "a number of seconds")
        if value is None:
            return default
        if positive and not value > 0:
            self.error(name, "expected a number greater than 0")
            return default
        return float(value)

    def integer(self, name: str, default: int | None, *, minimum: int = 0) -> int | None:
        value = self.scalar(name, ("int",), "a whole number")
        if value is None:
            return default
        if value < minimum:
            self.error(name, f"expected a whole number of at least {minimum}")
            return default
        return int(value)

    def choice(self, name: str, choices: Iterable[str], default: str) -> str:
        options = list(choices)
        value = self.scalar(name, ("str",), "one of " + ", ".join(options))
        if value is None:
            return default
        if value not in options:
            close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            self.error(name, "expected one of " + ", ".join(options) + hint)
            return default
        return str(value)

    def string_list(self, name: str, *, allow_empty: bool = True) -> tuple[str, ...] | None:
        node = self.take(name)
        if node is None:
            return None
        if not isinstance(node, SequenceNode):
            self.error(name, f"expected a list of strings, got {describe(node)}", node)
            return None
        items: list[str] = []
        for index, item in enumerate(node.value):
            if not (isinstance(item, ScalarNode) and item.tag == _TAG + "str"):
                self.ctx.error(item, f"{self.key(name)}[{index}]",
                               f"expected a string, got {describe(item)} (quote it)")
                continue
            items.append(item.value)
        if not items and not allow_empty:
            self.error(name, "expected a non-empty list")
        return tuple(items)

    def section(self, name: str) -> Section | None:
        node = self.take(name)
        if node is None:
            return None
        if not isinstance(node, MappingNode):
            self.error(name, f"expected a mapping of keys, got {describe(node)}", node)
            return None
        return Section(self.ctx, node, self.key(name), anchor=self.key_node(name))

    def finish(self, allowed: Iterable[str], *, elsewhere: dict[str, str] | None = None
               ) -> None:
        """Report every key not read; ``elsewhere`` maps a key to where it belongs."""
        known = list(allowed)
        for key, (key_node, _value) in self._entries.items():
            if key in self._taken:
                continue
            shown = printable_key(key)
            if elsewhere and key in elsewhere:
                message = f"unknown key '{shown}' here ({elsewhere[key]})"
            else:
                close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                message = f"unknown key '{shown}'"
                message += f"; did you mean '{close[0]}'?" if close else (
                    "; expected one of: " + ", ".join(sorted(known)) if known else "")
            self.ctx.error(key_node, self.key(shown), message)
