"""Per-sandbox ephemeral CA, leaves per SNI, and the trust a sandbox is given (contract §3)."""

from __future__ import annotations

import asyncio
import copy
import datetime
import ipaddress
import pickle
import shutil
import ssl
import statistics
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from emulator.ca import (
    CA_COMMON_NAME,
    CA_PATH,
    LEAF_CACHE_CAP,
    SYSTEM_BUNDLE_PATHS,
    Leaf,
    SandboxCA,
    system_bundle_path,
    trust_bundle,
    trust_environment,
)

SNI = "api.example.test"
SNI_NAME = x509.DNSName(SNI)


@pytest.fixture(scope="module")
def ca() -> SandboxCA:
    return SandboxCA.create("sandbox-1")


def load(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def verify(ca_pem: bytes, leaf: Leaf, name: verification.Subject = SNI_NAME) -> None:
    """Chain-verify ``leaf`` against ``ca_pem`` alone, as a TLS client would for ``name``."""
    verifier = verification.PolicyBuilder().store(verification.Store([load(ca_pem)])).build_server_verifier(name)
    verifier.verify(load(leaf.cert_pem), [])


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


# -- the CA -----------------------------------------------------------------------------------------------


def test_ca_matches_cloudflares_local_ca(ca: SandboxCA) -> None:
    cert = load(ca.cert_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == CA_COMMON_NAME
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "outbound emulator, sandbox sandbox-1"
    )
    assert cert.issuer == cert.subject
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert public_key.curve.name == "secp256r1"
    assert 0 < cert.serial_number < 2**128
    now = _utcnow()
    assert abs(cert.not_valid_before_utc - (now - datetime.timedelta(hours=1))) < datetime.timedelta(minutes=1)
    assert abs(cert.not_valid_after_utc - (now + datetime.timedelta(days=30))) < datetime.timedelta(minutes=1)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert not (usage.digital_signature or usage.key_encipherment)


def test_two_cas_never_share_a_key_or_serial() -> None:
    first, second = SandboxCA.create("same-id"), SandboxCA.create("same-id")
    one, two = load(first.cert_pem), load(second.cert_pem)
    assert one.serial_number != two.serial_number
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert one.public_key().public_bytes(*der) != two.public_key().public_bytes(*der)


def test_creating_a_ca_takes_under_50_ms() -> None:
    # issue 4: "a new sandbox's CA ready in ≤ 50 ms".
    timings = []
    for index in range(20):
        start = time.perf_counter()
        SandboxCA.create(f"timing-{index}")
        timings.append((time.perf_counter() - start) * 1000)
    median, worst = statistics.median(timings), max(timings)
    print(f"SandboxCA.create: median {median:.2f} ms, max {worst:.2f} ms over {len(timings)}")
    assert median <= 50


# -- leaves -----------------------------------------------------------------------------------------------


def test_leaf_is_cn_and_san_of_the_sni_for_24_hours(ca: SandboxCA) -> None:
    leaf = ca.leaf(SNI)
    cert = load(leaf.cert_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == SNI
    assert cert.issuer == load(ca.cert_pem).subject
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [SNI]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(hours=25)
    assert abs(cert.not_valid_after_utc - (_utcnow() + datetime.timedelta(hours=24))) < datetime.timedelta(minutes=1)
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH]
    )
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_encipherment and not usage.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    public_key = cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1"
    assert 0 < cert.serial_number < 2**128


def test_leaf_key_belongs_to_the_leaf_and_chain_is_leaf_then_ca(ca: SandboxCA) -> None:
    leaf = ca.leaf(SNI)
    assert leaf.chain_pem == leaf.cert_pem + ca.cert_pem
    key = serialization.load_pem_private_key(leaf.key_pem, password=None)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(*spki) == load(leaf.cert_pem).public_key().public_bytes(*spki)
    assert key.public_key().public_bytes(*spki) != load(ca.cert_pem).public_key().public_bytes(*spki)
    assert "key_pem" not in repr(leaf)


@pytest.mark.parametrize("address", ["1.2.3.4", "::1"])
def test_leaf_for_an_ip_sni_names_it_as_an_ip(ca: SandboxCA, address: str) -> None:
    leaf = ca.leaf(address)
    san = load(leaf.cert_pem).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(address)]
    assert san.get_values_for_type(x509.DNSName) == []
    verify(ca.cert_pem, leaf, x509.IPAddress(ipaddress.ip_address(address)))


def test_a_name_too_long_for_a_cn_goes_in_the_san_only(ca: SandboxCA) -> None:
    name = "a" * 60 + ".long.example.test"
    cert = load(ca.leaf(name).cert_pem)
    assert list(cert.subject) == []
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and san.value.get_values_for_type(x509.DNSName) == [name]
    verify(ca.cert_pem, ca.leaf(name), x509.DNSName(name))


def test_leaf_chain_verifies_against_its_ca_only(ca: SandboxCA) -> None:
    leaf = ca.leaf(SNI)
    verify(ca.cert_pem, leaf)
    with pytest.raises(verification.VerificationError):
        verify(SandboxCA.create("sandbox-2").cert_pem, leaf)
    with pytest.raises(verification.VerificationError):
        verify(ca.cert_pem, leaf, x509.DNSName("other.example.test"))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_verifies_the_chain_strictly(ca: SandboxCA, tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "other.pem").write_bytes(SandboxCA.create("sandbox-2").cert_pem)
    (tmp_path / "leaf.pem").write_bytes(ca.leaf(SNI).cert_pem)

    def openssl_verify(ca_file: str, *extra: str) -> subprocess.CompletedProcess[str]:
        command = ["openssl", "verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", ca_file, *extra]
        return subprocess.run([*command, "leaf.pem"], cwd=tmp_path, capture_output=True, text=True, check=False)

    good = openssl_verify("ca.pem", "-verify_hostname", SNI)
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.strip() == "leaf.pem: OK"
    assert openssl_verify("other.pem").returncode != 0
    assert openssl_verify("ca.pem", "-verify_hostname", "other.example.test").returncode != 0


def test_leaf_is_minted_once_per_sni_and_the_cache_is_bounded() -> None:
    ca = SandboxCA.create("cache")
    first = ca.leaf(SNI)
    assert ca.leaf(SNI) is first
    assert ca.leaf(SNI.upper()) is first  # SNI is case-insensitive
    assert ca.leaf("other.example.test") is not first
    for index in range(LEAF_CACHE_CAP):
        ca.leaf(f"host-{index}.example.test")
    assert ca.cached_leaves == LEAF_CACHE_CAP
    # The least recently used (SNI) was evicted, so it is minted anew; the newest is still cached.
    assert ca.leaf(SNI) is not first
    assert ca.leaf(f"host-{LEAF_CACHE_CAP - 1}.example.test") is ca.leaf(f"host-{LEAF_CACHE_CAP - 1}.example.test")


@pytest.mark.parametrize(
    ("sni", "message"),
    [
        ("", "cannot mint a certificate for an empty SNI"),
        (
            "bücher.example",
            "cannot mint a certificate for SNI 'bücher.example': DNSName values should be passed as an A-label string. This means unicode characters should be encoded via a library like idna.",
        ),
    ],
)
def test_unusable_sni_raises_value_error(ca: SandboxCA, sni: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        ca.leaf(sni)
    assert str(caught.value) == message


# -- the CA key stays in memory ---------------------------------------------------------------------------


def test_the_ca_key_is_not_reachable_through_the_public_api(ca: SandboxCA) -> None:
    ca.leaf(SNI)
    for name in dir(ca):
        if name.startswith("_"):
            continue
        value = getattr(ca, name)
        assert not isinstance(value, ec.EllipticCurvePrivateKey), name
        if isinstance(value, bytes):
            assert b"PRIVATE KEY" not in value, name
    assert b"PRIVATE KEY" not in ca.cert_pem + ca.leaf(SNI).chain_pem
    assert repr(ca) == f"<SandboxCA sandbox='sandbox-1' serial={load(ca.cert_pem).serial_number:x}>"
    message = "the CA of sandbox 'sandbox-1' cannot be pickled or copied: its key stays in memory"
    for serialise in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError) as caught:
            serialise(ca)
        assert str(caught.value) == message


# -- trust ------------------------------------------------------------------------------------------------


def test_trust_bundle_is_system_roots_newline_ca(ca: SandboxCA, tmp_path: Path) -> None:
    roots = tmp_path / "roots.pem"
    roots.write_bytes(SandboxCA.create("pretend-root").cert_pem)
    assert trust_bundle(ca.cert_pem, roots) == roots.read_bytes() + b"\n" + ca.cert_pem


def test_system_bundle_is_the_first_path_cert_ts_checks() -> None:
    existing = [path for path in SYSTEM_BUNDLE_PATHS if path.is_file()]
    if existing:
        assert system_bundle_path() == existing[0]
    else:
        import certifi

        assert system_bundle_path() == Path(certifi.where())
    ca = SandboxCA.create("system")
    bundle = trust_bundle(ca.cert_pem)
    assert bundle.startswith(system_bundle_path().read_bytes()) and bundle.endswith(b"\n" + ca.cert_pem)


def test_trust_environment_names_every_tool() -> None:
    assert trust_environment("/run/sbx/ca.crt", "/run/sbx/bundle.pem") == {
        "NODE_EXTRA_CA_CERTS": "/run/sbx/ca.crt",
        "SSL_CERT_FILE": "/run/sbx/bundle.pem",
        "CURL_CA_BUNDLE": "/run/sbx/bundle.pem",
        "REQUESTS_CA_BUNDLE": "/run/sbx/bundle.pem",
        "GIT_SSL_CAINFO": "/run/sbx/bundle.pem",
        "AWS_CA_BUNDLE": "/run/sbx/bundle.pem",
        "PIP_CERT": "/run/sbx/bundle.pem",
        "NPM_CONFIG_CAFILE": "/run/sbx/bundle.pem",
        "HTTPLIB2_CA_CERTS": "/run/sbx/bundle.pem",
        "CARGO_HTTP_CAINFO": "/run/sbx/bundle.pem",
        "DENO_CERT": "/run/sbx/bundle.pem",
        "BUNDLE_SSL_CA_CERT": "/run/sbx/bundle.pem",
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": "/run/sbx/bundle.pem",
        "SANDBOX_INTERCEPT_HTTPS": "1",
        "SANDBOX_CA_CERT": "/run/sbx/ca.crt",
    }


def test_trust_environment_at_cloudflares_path_needs_no_override() -> None:
    env = trust_environment(CA_PATH, "/etc/ssl/certs/ca-certificates.crt")
    assert "SANDBOX_CA_CERT" not in env
    assert env["NODE_EXTRA_CA_CERTS"] == CA_PATH


# -- a real handshake -------------------------------------------------------------------------------------


async def _handshake(leaf: Leaf, cafile: Path, server_hostname: str, tmp_path: Path) -> None:
    """A TLS server presenting ``leaf``'s chain; a client that trusts only ``cafile`` connects to it."""
    (tmp_path / "chain.pem").write_bytes(leaf.chain_pem)
    (tmp_path / "key.pem").write_bytes(leaf.key_pem)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "chain.pem", tmp_path / "key.pem")

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    client_context = ssl.create_default_context(cafile=str(cafile))  # only this file: no default paths
    client_context.verify_flags |= ssl.VERIFY_X509_STRICT
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context, server_hostname=server_hostname
        )
        writer.write(b"ping\n")
        assert await reader.readline() == b"ping\n"
        writer.close()
        await writer.wait_closed()
    finally:
        server.close()
        await server.wait_closed()


async def test_a_client_trusting_the_bundle_accepts_the_sni_and_rejects_other_names(
    ca: SandboxCA, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(trust_bundle(ca.cert_pem))
    await _handshake(ca.leaf(SNI), bundle, SNI, tmp_path)
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        await _handshake(ca.leaf(SNI), bundle, "other.example.test", tmp_path)


async def test_a_client_trusting_another_sandboxs_bundle_rejects_the_leaf(ca: SandboxCA, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(trust_bundle(SandboxCA.create("sandbox-2").cert_pem))
    with pytest.raises(ssl.SSLCertVerificationError, match="self-signed certificate in certificate chain"):
        await _handshake(ca.leaf(SNI), bundle, SNI, tmp_path)


def test_the_bundle_keeps_the_public_roots(ca: SandboxCA, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(trust_bundle(ca.cert_pem))
    certificates = x509.load_pem_x509_certificates(bundle.read_bytes())
    assert certificates[-1] == load(ca.cert_pem)
    assert len(certificates) > 10  # the system's (or certifi's) roots came along
    context = ssl.create_default_context(cafile=str(bundle))  # and OpenSSL reads them all
    assert context.cert_store_stats()["x509_ca"] == len(set(certificates))
