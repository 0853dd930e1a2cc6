#!/usr/bin/env python3
"""The floor Python cannot beat: the bare library calls behind one `token get`.

    bench_floor.py file PATH NAME            PBKDF2-HMAC-SHA256 + AES-256-GCM decrypt
    bench_floor.py secret-service - NAME     secretstorage lookup by attributes
    bench_floor.py pkcs11 - NAME             python-pkcs11 read of one data object
"""

import sys


def file_floor(path: str, name: str) -> str:
    import json
    import os

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    data = open(path, "rb").read()
    mid = open("/etc/machine-id").read().strip().encode()
    password = b"mcp-router/tokens.enc/v1\x00" + mid + b"\x00" + str(os.getuid()).encode()
    iterations = int.from_bytes(data[12:16], "big")
    key = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=data[16:32],
                     iterations=iterations).derive(password)
    plain = AESGCM(key).decrypt(data[32:44], data[44:], data[:44])
    return json.loads(plain)["tokens"][name]


def secret_service_floor(name: str) -> str:
    import secretstorage

    conn = secretstorage.dbus_init()
    collection = secretstorage.get_default_collection(conn)
    item = next(collection.search_items({"application": "mcp-router", "token_name": name}))
    return item.get_secret().decode()


def pkcs11_floor(name: str) -> str:
    import os

    import pkcs11

    lib = pkcs11.lib(os.environ["BENCH_PKCS11_MODULE"])
    token = lib.get_token(token_label=os.environ["BENCH_PKCS11_LABEL"])
    with token.open(user_pin=os.environ["MCP_ROUTER_PKCS11_PIN"]) as session:
        obj = next(session.get_objects({pkcs11.Attribute.CLASS: pkcs11.ObjectClass.DATA,
                                        pkcs11.Attribute.LABEL: name}))
        return str(len(obj[pkcs11.Attribute.VALUE]))


if __name__ == "__main__":
    kind, path, name = sys.argv[1:4]
    if kind == "file":
        value = file_floor(path, name)
    elif kind == "secret-service":
        value = secret_service_floor(name)
    else:
        value = pkcs11_floor(name)
    sys.stdout.write(value + "\n")
