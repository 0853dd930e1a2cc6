"""The Jenkins and Kubernetes recipes of docs/ci-cd.md, run for real: the documented
command lines (string constants here; tests/test_ci_docs.py checks that every command of
the page is one of them) through a real shell, the real ``jq`` and ``base64``, and the
installed ``mcp-router`` program. kubectl is replaced by a program that prints the JSON
document ``kubectl get secret NAME -o json`` prints.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clirun import stored_value
from gha_emulator import REPO
from leakcheck import find_leaks, plant_secret

BIN = str(Path(sys.executable).parent)  # where the mcp-router console script is installed
EXAMPLES = REPO / "examples" / "kubernetes"

# -- the commands of docs/ci-cd.md ------------------------------------------------------------
JENKINS_IMPORT_SPEC = "mcp-router token import --name ci-token --env TOKEN"
JENKINS_IMPORT = "mcp-router token import --name ci-token --env TOKEN --force"
JENKINS_CLEANUP = "mcp-router token delete --name ci-token --yes || true"
JENKINS_SECRET_FILE = 'mcp-router token set --name ci-token --file "$TOKEN_FILE" --force'
K8S_PIPELINE = """kubectl get secret mcp-tokens -o json | \\
  jq -r '.data["gateway-token"]' | \\
  base64 -d | \\
  mcp-router token set --name gateway-token --stdin"""
K8S_SCRIPT = "examples/kubernetes/import-tokens.sh mcp-tokens gateway-token oauth-secret"
K8S_MOUNTED = ('mcp-router token set --name gateway-token --file "$SECRETS_DIR/gateway-token"'
               " --force")
PRINTF_STDIN = 'printf %s "$TOKEN" | mcp-router token set --name ci-token --stdin'

needs_tools = pytest.mark.skipif(
    not (shutil.which("jq") and shutil.which("base64")),
    reason="jq and base64 are needed (make system-deps installs jq)")


def shell(command: str, *, env: dict[str, str] | None = None, cwd: Path | None = None,
          argv: tuple[str, ...] = ("bash", "-o", "pipefail", "-c")
          ) -> subprocess.CompletedProcess[bytes]:
    """Run ``command`` as a pipeline step would: no terminal, the test's isolated HOME."""
    full_env = {**os.environ, **(env or {})}
    full_env["PATH"] = os.pathsep.join([*(env or {}).get("PATH_PREFIX", "").split(os.pathsep),
                                        BIN, os.environ["PATH"]]).strip(os.pathsep)
    return subprocess.run([*argv, command], env=full_env, cwd=cwd or REPO,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
                          start_new_session=True, check=False)


def err(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stderr.decode("utf-8", "replace")


# -- Jenkins -------------------------------------------------------------------------------------
def jenkins_sh(command: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[bytes]:
    """A Jenkins ``sh`` step: the script in a file, run with ``sh -xe`` on an agent (no
    terminal, no CI variable), with withCredentials' variables in the environment."""
    script = tmp_path / "script.sh"
    script.write_text(command + "\n")
    jenkins = {"JENKINS_URL": "http://jenkins.invalid/", "BUILD_NUMBER": "7",
               "WORKSPACE": str(tmp_path)}
    return shell(str(script), env={**jenkins, **env}, cwd=tmp_path, argv=("sh", "-xe"))


def test_jenkins_import_with_the_variable_unset(tmp_path: Path) -> None:
    result = jenkins_sh(JENKINS_IMPORT_SPEC, tmp_path)
    assert result.returncode == 4
    assert "error: environment variable TOKEN is not set" in err(result)


def test_jenkins_import_with_an_empty_variable(tmp_path: Path) -> None:
    result = jenkins_sh(JENKINS_IMPORT_SPEC, tmp_path, TOKEN="")
    assert result.returncode == 4
    assert "error: environment variable TOKEN is empty" in err(result)
    assert shell("mcp-router token list --json").stdout == b"[]\n"


def test_jenkins_import_with_the_variable_set(tmp_path: Path) -> None:
    value = plant_secret("jenkins")
    result = jenkins_sh(JENKINS_IMPORT_SPEC, tmp_path, TOKEN=value)
    assert result.returncode == 0, err(result)
    assert ("stored 'ci-token' from $TOKEN in the file store; you can now unset TOKEN"
            in err(result))
    assert "+ mcp-router token import --name ci-token --env TOKEN" in err(result)  # sh -x
    assert find_leaks(value, result.stdout + result.stderr) == []
    assert stored_value("ci-token") == value


def test_jenkins_second_build_needs_force(tmp_path: Path) -> None:
    assert jenkins_sh(JENKINS_IMPORT_SPEC, tmp_path, TOKEN="first-build").returncode == 0
    again = jenkins_sh(JENKINS_IMPORT_SPEC, tmp_path, TOKEN="second-build")
    assert again.returncode == 5
    assert "a token named 'ci-token' already exists" in err(again)
    forced = jenkins_sh(JENKINS_IMPORT, tmp_path, TOKEN="second-build")
    assert forced.returncode == 0, err(forced)
    assert stored_value("ci-token") == "second-build"


def test_jenkins_import_keeps_the_value_exactly(tmp_path: Path) -> None:
    value = " spaced\nvalue\n"
    assert jenkins_sh(JENKINS_IMPORT, tmp_path, TOKEN=value).returncode == 0
    assert stored_value("ci-token") == value


def test_jenkins_secret_file_credential(tmp_path: Path) -> None:
    token_file = tmp_path / "secret-file"
    token_file.write_bytes(b"from-a-secret-file\n")
    result = jenkins_sh(JENKINS_SECRET_FILE, tmp_path, TOKEN_FILE=str(token_file))
    assert result.returncode == 0, err(result)
    assert stored_value("ci-token") == "from-a-secret-file"


def test_jenkins_cleanup_in_post_always(tmp_path: Path) -> None:
    assert jenkins_sh(JENKINS_IMPORT, tmp_path, TOKEN="x-token-value").returncode == 0
    assert jenkins_sh(JENKINS_CLEANUP, tmp_path).returncode == 0
    assert shell("mcp-router token list --json").stdout == b"[]\n"
    # Nothing left to delete (a build that failed before storing): still not an error.
    assert jenkins_sh(JENKINS_CLEANUP, tmp_path).returncode == 0


# -- Kubernetes -----------------------------------------------------------------------------------
def kubectl_document(data: dict[str, str], name: str = "mcp-tokens") -> str:
    """What ``kubectl get secret NAME -o json`` prints for a Secret with ``data``."""
    return json.dumps({
        "apiVersion": "v1",
        "data": data,
        "kind": "Secret",
        "metadata": {
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "name": name,
            "namespace": "default",
            "resourceVersion": "4242",
            "uid": "0b9c1c7e-8d1c-4b8e-9a41-2f8a3c0d5e6f",
        },
        "type": "Opaque",
    }, indent=4) + "\n"


@pytest.fixture
def kubectl(tmp_path: Path) -> Path:
    """A ``kubectl`` on PATH that prints ``<dir>/<secret>.json`` for
    ``kubectl get secret <secret> -o json`` (and refuses anything else)."""
    bindir = tmp_path / "kubectl-bin"
    bindir.mkdir()
    shim = bindir / "kubectl"
    shim.write_text(
        "#!/bin/sh\n"
        '[ "$#" -eq 5 ] && [ "$1 $2 $4 $5" = "get secret -o json" ] ||'
        ' { echo "kubectl stand-in: unexpected arguments: $*" >&2; exit 2; }\n'
        f'[ -f "{bindir}/$3.json" ] ||'
        ' { echo "Error from server (NotFound): secrets \\"$3\\" not found" >&2; exit 1; }\n'
        f'exec cat "{bindir}/$3.json"\n')
    shim.chmod(0o755)
    return bindir


def put_secret(kubectl: Path, data: dict[str, bytes], name: str = "mcp-tokens") -> None:
    encoded = {k: base64.b64encode(v).decode() for k, v in data.items()}
    (kubectl / f"{name}.json").write_text(kubectl_document(encoded, name))


NEWLINE_CASES = [
    (b"tok-abc", "tok-abc"),
    (b"tok-abc\n", "tok-abc"),
    (b"tok-abc\r\n", "tok-abc"),
    (b"tok-abc\n\n", "tok-abc\n"),
    (b" tok abc \n", " tok abc "),
    (b"line1\nline2\n", "line1\nline2"),
    ("t\u00f8ken-\u00fc\n".encode(), "t\u00f8ken-\u00fc"),
]


@needs_tools
@pytest.mark.parametrize(("raw", "stored"), NEWLINE_CASES,
                         ids=[repr(raw) for raw, _ in NEWLINE_CASES])
def test_kubernetes_pipeline_and_the_newline_rule(kubectl: Path, raw: bytes,
                                                  stored: str) -> None:
    put_secret(kubectl, {"gateway-token": raw, "other": b"unrelated"})
    env = {"PATH_PREFIX": str(kubectl)}
    # The exact bytes that reach mcp-router's stdin: the secret, decoded by the real base64.
    upstream = K8S_PIPELINE.rsplit("|", 1)[0].rstrip(" \\\n")
    produced = shell(upstream, env=env)
    assert produced.returncode == 0, err(produced)
    assert produced.stdout == raw
    result = shell(K8S_PIPELINE, env=env)
    assert result.returncode == 0, err(result)
    assert stored_value("gateway-token") == stored
    assert result.stdout == b""


@needs_tools
def test_kubernetes_pipeline_with_a_missing_key_stores_nothing(kubectl: Path) -> None:
    put_secret(kubectl, {"other": b"unrelated"})
    result = shell(K8S_PIPELINE, env={"PATH_PREFIX": str(kubectl)})
    # jq -r prints "null"; base64 -d makes 3 bytes of it that are not UTF-8.
    assert result.returncode == 4
    assert "not UTF-8" in err(result)
    assert shell("mcp-router token list --json").stdout == b"[]\n"


@needs_tools
def test_kubernetes_example_script_imports_the_example_manifest(kubectl: Path) -> None:
    manifest = yaml.safe_load((EXAMPLES / "secret.yaml").read_text())
    assert manifest["kind"] == "Secret" and manifest["metadata"]["name"] == "mcp-tokens"
    (kubectl / "mcp-tokens.json").write_text(kubectl_document(manifest["data"]))
    env = {"PATH_PREFIX": str(kubectl)}
    for _ in range(2):  # a second run (a restarted container) replaces the values
        result = shell(K8S_SCRIPT, env=env)
        assert result.returncode == 0, err(result)
    assert stored_value("gateway-token") == "example-gateway-token"
    assert stored_value("oauth-secret") == "example-oauth-secret"  # its "\n" dropped


@needs_tools
def test_kubernetes_example_script_fails_on_a_missing_key(kubectl: Path) -> None:
    put_secret(kubectl, {"gateway-token": b"present"})
    result = shell("examples/kubernetes/import-tokens.sh mcp-tokens nope",
                   env={"PATH_PREFIX": str(kubectl)})
    assert result.returncode != 0
    assert 'key "nope" is not in the Secret' in err(result)
    assert shell("mcp-router token list --json").stdout == b"[]\n"


@needs_tools
def test_kubernetes_example_script_fails_on_a_missing_secret(kubectl: Path) -> None:
    result = shell("examples/kubernetes/import-tokens.sh absent",
                   env={"PATH_PREFIX": str(kubectl)})
    assert result.returncode != 0
    assert 'secrets "absent" not found' in err(result)


def test_mounted_secret_volume(tmp_path: Path) -> None:
    mounted = tmp_path / "mcp-tokens"
    mounted.mkdir()
    (mounted / "gateway-token").write_bytes(b"from-a-volume\n")
    result = shell(K8S_MOUNTED, env={"SECRETS_DIR": str(mounted)})
    assert result.returncode == 0, err(result)
    assert stored_value("gateway-token") == "from-a-volume"


@pytest.mark.parametrize("value", ["no-newline", "trailing-space ", "ends-in-newline\n"])
def test_printf_keeps_the_value(value: str) -> None:
    result = shell(PRINTF_STDIN, env={"TOKEN": value})
    assert result.returncode == 0, err(result)
    # printf %s adds nothing; the one rule then drops a newline the value itself ended in.
    assert stored_value("ci-token") == (value[:-1] if value.endswith("\n") else value)
