#!/usr/bin/env python3
"""One of the concurrent benchmark workers: COUNT rounds of set then get on the default
store of the environment it inherits. Exit 1 if any read returns a wrong value."""

import sys

from mcp_router import open_store
from mcp_router.secure.store import StoreSettings


def main(worker: str, count: int) -> int:
    store = open_store(StoreSettings(backend="file"))
    bad = 0
    for i in range(count):
        name = f"w{worker}-{i}"
        store.store(name, f"value-{name}")
        bad += store.retrieve(name) != f"value-{name}"
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
