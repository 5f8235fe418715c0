"""Each sandbox's ephemeral certificate authority, the leaves it mints, and how a sandbox comes to trust it.

Contract §3. Production (and wrangler dev's proxy-everything sidecar, ``tls.go``) creates one ECDSA P-256 CA
per sandbox instance, mints a leaf per TLS SNI on the ClientHello, caches it, and serves the chain
[leaf, CA]. The CA's private key never leaves the process that holds it: here it lives only in a
``SandboxCA`` object, no public method serialises it, and the object refuses to be pickled or copied. Leaf
keys are handed out (``Leaf.key_pem``) because the TLS layer that terminates the sandbox's connection needs
them; they are per-name, short-lived and worthless for signing anything else.

Where it sits: the ``Tls`` addon asks ``SandboxCA.leaf(sni)`` for the certificate to present (minting stays
here, choosing the name stays there); the sandbox runner writes ``cert_pem`` to ``CA_PATH`` (or wherever its
mount namespace allows) and a bundle from ``trust_bundle``, and sets ``trust_environment``'s variables.

This module imports ``cryptography`` and never mitmproxy; cryptography's exceptions are mapped to
``ValueError`` here, once.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_PATH = "/etc/cloudflare/certs/cloudflare-containers-ca.crt"  # contract §3: where the runtime puts the CA
CA_COMMON_NAME = "Cloudflare TLS proxy-everything Intercept CA"  # proxy-everything tls.go createCA
CA_ORGANIZATION_PREFIX = "outbound emulator, sandbox "  # ours: says which sandbox a CA belongs to
CA_VALIDITY = datetime.timedelta(days=30)  # tls.go: NotAfter now+30 days
LEAF_VALIDITY = datetime.timedelta(hours=24)  # tls.go mintCert: NotAfter now+24 h
BACKDATE = datetime.timedelta(hours=1)  # tls.go: NotBefore now-1 h, for clocks that run behind
LEAF_CACHE_CAP = 512  # tls.go maxCACerts; tls.go clears the whole map past it, we evict the least recent
MAX_X509_NAME_CHARS = 64  # RFC 5280 ub-common-name; longer SNIs go in the SAN only
SERIAL_BITS = 128  # tls.go: rand.Int(2^128)

# The bundles @cloudflare/sandbox's cert.ts appends the CA to, in its order (contract §3).
SYSTEM_BUNDLE_PATHS = (
    Path("/etc/ssl/certs/ca-certificates.crt"),  # Debian, Ubuntu, Alpine
    Path("/etc/pki/tls/certs/ca-bundle.crt"),  # Fedora, RHEL
    Path("/etc/ssl/ca-bundle.pem"),  # openSUSE
    Path("/etc/ssl/cert.pem"),  # Alpine, macOS
    Path("/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"),  # RHEL's extracted bundle
    Path("/etc/pki/tls/cert.pem"),  # older RHEL
)


@dataclass(frozen=True)
class Leaf:
    """A certificate for one SNI, its key, and the chain a TLS server presents ([leaf, CA], PEM)."""

    cert_pem: bytes
    key_pem: bytes = field(repr=False)
    chain_pem: bytes


class SandboxCA:
    """One sandbox's ephemeral CA (contract §3): ECDSA P-256, CN like Cloudflare's local CA, random 128-bit
    serial, valid from an hour ago for 30 days, CA:TRUE, keyCertSign|cRLSign. The key exists only in memory.
    """

    def __init__(self, sandbox_id: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        # Use create(); the constructor exists so that the key is never a parameter anyone has to serialise.
        self.sandbox_id = sandbox_id
        self.certificate = certificate
        self.cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
        self.__key = key  # name-mangled: not part of any public surface
        self.__key_id = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        self.__leaves: OrderedDict[str, Leaf] = OrderedDict()
        self.__lock = threading.Lock()  # leaf() may be called from TLS worker threads

    @classmethod
    def create(cls, sandbox_id: str) -> SandboxCA:
        """A fresh CA for ``sandbox_id``. Two calls never share a key, even for the same sandbox id."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME),
                x509.NameAttribute(
                    NameOID.ORGANIZATION_NAME, (CA_ORGANIZATION_PREFIX + sandbox_id)[:MAX_X509_NAME_CHARS]
                ),
            ]
        )
        key_id = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(_serial())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + CA_VALIDITY)
            # path_length=0: this CA signs leaves only (tls.go leaves MaxPathLen unset; 0 is stricter).
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(key_id, critical=False)
        )
        try:
            certificate = builder.sign(key, hashes.SHA256())
        except ValueError as error:  # the sandbox id made an unusable subject
            raise ValueError(f"cannot create a CA for sandbox {sandbox_id!r}: {error}") from error
        return cls(sandbox_id, certificate, key)

    def leaf(self, sni: str) -> Leaf:
        """The leaf for ``sni`` (a host name, or an IP literal some clients send), minted once and cached.

        Raises ValueError when no certificate can name ``sni`` (empty, or not an ASCII A-label).
        """
        name = sni.lower()
        with self.__lock:
            cached = self.__leaves.get(name)
            if cached is not None:
                self.__leaves.move_to_end(name)
                return cached
        minted = self._mint(name)
        with self.__lock:
            leaf = self.__leaves.setdefault(name, minted)  # a concurrent mint for the same name: first one wins
            self.__leaves.move_to_end(name)
            while len(self.__leaves) > LEAF_CACHE_CAP:
                self.__leaves.popitem(last=False)
        return leaf

    def _mint(self, name: str) -> Leaf:
        if not name:
            raise ValueError("cannot mint a certificate for an empty SNI")
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        alt_name: x509.GeneralName
        try:
            alt_name = x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            try:
                alt_name = x509.DNSName(name)
            except ValueError as error:  # cryptography wants A-labels (punycode), as a TLS SNI is
                raise ValueError(f"cannot mint a certificate for SNI {name!r}: {error}") from error
        # CN = SAN = SNI as tls.go does; a name longer than X.509 allows in a CN goes in the SAN only, which
        # then must be critical because the subject is empty (RFC 5280 §4.2.1.6).
        fits = len(name) <= MAX_X509_NAME_CHARS
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)] if fits else [])
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(_serial())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + LEAF_VALIDITY)
            .add_extension(x509.SubjectAlternativeName([alt_name]), critical=not fits)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self.__key_id), critical=False
            )
        )
        try:
            certificate = builder.sign(self.__key, hashes.SHA256())
        except (ValueError, UnicodeError) as error:
            raise ValueError(f"cannot mint a certificate for SNI {name!r}: {error}") from error
        cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return Leaf(cert_pem=cert_pem, key_pem=key_pem, chain_pem=cert_pem + self.cert_pem)

    @property
    def cached_leaves(self) -> int:
        """How many leaves are cached (at most ``LEAF_CACHE_CAP``)."""
        return len(self.__leaves)

    def __repr__(self) -> str:
        serial = format(self.certificate.serial_number, "x")
        return f"<SandboxCA sandbox={self.sandbox_id!r} serial={serial}>"

    def __reduce__(self) -> NoReturn:
        # Pickling or copying would write the key somewhere; a sandbox's CA key never leaves this object.
        raise TypeError(f"the CA of sandbox {self.sandbox_id!r} cannot be pickled or copied: its key stays in memory")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _serial() -> int:
    # A positive serial below 2^128, never 0 (RFC 5280 wants positive integers).
    return secrets.randbelow((1 << SERIAL_BITS) - 1) + 1


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    # CA: keyCertSign|cRLSign. Leaf: digitalSignature|keyEncipherment (tls.go; keyEncipherment is
    # meaningless for an EC key but is what production sets, and clients accept it).
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def system_bundle_path() -> Path:
    """The system's root bundle: the first of cert.ts's paths that exists, else certifi's copy of Mozilla's."""
    for path in SYSTEM_BUNDLE_PATHS:
        if path.is_file():
            return path
    import certifi  # only when the system has no bundle; it ships with mitmproxy

    return Path(certifi.where())


def trust_bundle(ca_pem: bytes, system_bundle: Path | None = None) -> bytes:
    """System roots, a newline, then the sandbox's CA: what cert.ts leaves in the system bundle (contract §3).

    Clients pointed at it trust both the public internet (passthrough traffic) and intercepted HTTPS.
    """
    roots = (system_bundle or system_bundle_path()).read_bytes()
    return roots + b"\n" + ca_pem


def trust_environment(ca_file: str, bundle_file: str) -> dict[str, str]:
    """The variables that make common clients trust the sandbox's CA, for the sandbox's environment.

    ``ca_file`` holds the CA alone (for variables that *add* to a client's roots); ``bundle_file`` holds
    ``trust_bundle``'s output (for variables that *replace* them). SSL_CERT_DIR is not set: it names a
    hashed directory, and the bundle file already covers OpenSSL.
    """
    env = {
        # @cloudflare/sandbox cert.ts sets these five once SANDBOX_INTERCEPT_HTTPS=1 (contract §3).
        "NODE_EXTRA_CA_CERTS": ca_file,  # Node, Bun: added to the built-in roots
        "SSL_CERT_FILE": bundle_file,  # OpenSSL's default file (Python ssl, Ruby, PHP), Go, uv
        "CURL_CA_BUNDLE": bundle_file,  # curl; also read by requests and pip
        "REQUESTS_CA_BUNDLE": bundle_file,  # requests, and pip
        "GIT_SSL_CAINFO": bundle_file,  # git over HTTPS
        # Other tools' own settings; each replaces that tool's roots, so each gets the whole bundle.
        "AWS_CA_BUNDLE": bundle_file,  # AWS CLI and SDKs
        "PIP_CERT": bundle_file,  # pip --cert
        "NPM_CONFIG_CAFILE": bundle_file,  # npm's `cafile` (npm_config_* variables are npm config)
        "HTTPLIB2_CA_CERTS": bundle_file,  # httplib2 (google-api-python-client)
        "CARGO_HTTP_CAINFO": bundle_file,  # cargo's http.cainfo
        "DENO_CERT": bundle_file,  # Deno --cert
        "BUNDLE_SSL_CA_CERT": bundle_file,  # Bundler's ssl_ca_cert
        "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": bundle_file,  # gRPC C core (grpcio, Ruby, PHP)
        # sandbox.ts adds this to envVars when interceptHttps is on (contract §1.9); the sandbox's own server
        # then runs cert.ts's trustRuntimeCert().
        "SANDBOX_INTERCEPT_HTTPS": "1",
    }
    if ca_file != CA_PATH:
        env["SANDBOX_CA_CERT"] = ca_file  # cert.ts reads the CA from here instead of CA_PATH
    return env
