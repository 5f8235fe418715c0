"""`outbound kv`, `outbound r2` and `outbound secrets-store`: seed state that handlers then read."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def outbound(*args: str, stdin: bytes = b"", cwd: Path = ROOT) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "emulator", *args], cwd=cwd, input=stdin, capture_output=True, timeout=60, check=False
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    shutil.copytree(ROOT / "examples" / "virtual-hosts", folder)
    config = folder / "wrangler.jsonc"
    text = config.read_text().replace(
        '"containers"',
        '"secrets_store_secrets": [{ "binding": "API", "store_id": "s1", "secret_name": "api" }],\n  "containers"',
    )
    config.write_text(text)
    return folder


def test_kv_put_get_list_delete(project: Path) -> None:
    common = ["--config", str(project)]
    assert (
        outbound("kv", "put", *common, "--binding", "KV", "greeting", "hello", "--metadata", '{"v":1}').returncode == 0
    )
    assert outbound("kv", "key", "put", *common, "other", "x", "--ttl", "3600").returncode == 0  # wrangler's spelling
    got = outbound("kv", "get", *common, "greeting")
    assert (got.returncode, got.stdout) == (0, b"hello")
    listed = json.loads(outbound("kv", "list", *common, "--prefix", "gr").stdout)
    assert listed == [{"name": "greeting", "metadata": {"v": 1}}]
    assert outbound("kv", "delete", *common, "greeting").returncode == 0
    missing = outbound("kv", "get", *common, "greeting")
    assert (missing.returncode, missing.stderr) == (1, b"Value not found\n")
    assert (project / ".outbound" / "kv" / "virtual-hosts-kv").is_dir()


def test_unknown_binding_names_the_ones_that_exist(project: Path) -> None:
    result = outbound("kv", "get", "--config", str(project), "--binding", "NOPE", "k")
    assert result.returncode == 1
    assert (
        result.stderr.decode().strip()
        == "outbound: error: no KV namespace binding named 'NOPE' in wrangler.jsonc; KV namespace bindings: KV"
    )


def test_kv_errors_are_cloudflares(project: Path) -> None:
    result = outbound("kv", "put", "--config", str(project), "k" * 513, "v")
    assert result.returncode == 1
    assert "KV PUT failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512." in result.stderr.decode()


def test_r2_put_get_delete(project: Path, tmp_path: Path) -> None:
    common = ["--config", str(project)]
    source = tmp_path / "logo.bin"
    source.write_bytes(bytes(range(256)) * 4096)
    put = outbound(
        "r2", "object", "put", "virtual-hosts/img/logo.bin", "--file", str(source), "--ct", "image/png", *common
    )
    assert put.returncode == 0, put.stderr
    assert b"(1048576 bytes, etag " in put.stderr
    piped = outbound("r2", "put", "virtual-hosts/notes.txt", "--pipe", *common, stdin=b"from stdin")
    assert piped.returncode == 0, piped.stderr
    got = outbound("r2", "get", "virtual-hosts/img/logo.bin", "--pipe", *common)
    assert got.stdout == source.read_bytes()
    assert outbound("r2", "delete", "virtual-hosts/img/logo.bin", *common).returncode == 0
    gone = outbound("r2", "get", "virtual-hosts/img/logo.bin", "--pipe", *common)
    assert gone.returncode == 1 and b"does not exist" in gone.stderr
    wrong = outbound("r2", "get", "other-bucket/x", "--pipe", *common)
    assert (
        wrong.stderr.decode()
        .strip()
        .endswith("no R2 bucket named 'other-bucket' in wrangler.jsonc; buckets: virtual-hosts")
    )


def test_secrets_store_put_list_delete(project: Path) -> None:
    common = ["--config", str(project)]
    assert outbound("secrets-store", "put", *common, "s3cr3t").returncode == 0
    listed = outbound("secrets-store", "list", *common)
    assert json.loads(listed.stdout) == ["api"]
    assert b"s3cr3t" not in listed.stdout
    assert outbound("secrets-store", "delete", *common).returncode == 0
    again = outbound("secrets-store", "delete", *common)
    assert again.returncode == 1 and b"has no secret 'api'" in again.stderr
