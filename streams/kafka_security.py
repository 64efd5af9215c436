"""How every Kafka client authenticates (SASL) and encrypts (TLS): one object, two dialects.

Why one object: streamrec talks to Kafka through two client libraries. The worker's Faust app
uses aiokafka (an ``ssl.SSLContext`` plus ``sasl_*`` keyword arguments, through Faust's
``broker_credentials``); the CLI, the replay, topic admin and the benchmarks use confluent-kafka
(librdkafka's dotted config keys). Both are derived here from one validated
:class:`KafkaSecurity`, so a cluster that needs SASL_SSL cannot end up with a worker that
authenticates and a ``streamrec tail`` that does not, or with hostname checking on one side only.

Why it validates itself: a half-configured client fails at its first connection with a vague
transport error ("Broker transport failure"), often in a child process. Here a SASL protocol
without a password, a certificate without its key, or a CA file that is not there fails at
start-up with a message that names the environment variable to fix.

The object is built from ``KAFKA_*`` variables by ``streams.settings`` (the one place the
environment is read); the variable names below are listed here only so that errors can name
them. Secrets (the SASL password, the key password) never appear in ``repr``.

This module sits on the ground floor (next to ``streams.settings``, which holds one) and imports
Faust only inside :func:`faust_credentials`, so short CLI commands do not pay for it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

__all__ = [
    "ENV_SASL_MECHANISM",
    "ENV_SASL_PASSWORD",
    "ENV_SASL_USERNAME",
    "ENV_SECURITY_PROTOCOL",
    "ENV_SSL_CA_LOCATION",
    "ENV_SSL_CERTIFICATE_LOCATION",
    "ENV_SSL_CHECK_HOSTNAME",
    "ENV_SSL_KEY_LOCATION",
    "ENV_SSL_KEY_PASSWORD",
    "PLAINTEXT",
    "PROTOCOLS",
    "SASL_MECHANISMS",
    "KafkaSecurity",
    "faust_credentials",
    "librdkafka_config",
    "ssl_context",
]

# The variables streams.settings reads (the passwords also as <NAME>_FILE, a mounted secret).
ENV_SECURITY_PROTOCOL = "KAFKA_SECURITY_PROTOCOL"
ENV_SASL_MECHANISM = "KAFKA_SASL_MECHANISM"
ENV_SASL_USERNAME = "KAFKA_SASL_USERNAME"
ENV_SASL_PASSWORD = "KAFKA_SASL_PASSWORD"
ENV_SSL_CA_LOCATION = "KAFKA_SSL_CA_LOCATION"
ENV_SSL_CERTIFICATE_LOCATION = "KAFKA_SSL_CERTIFICATE_LOCATION"
ENV_SSL_KEY_LOCATION = "KAFKA_SSL_KEY_LOCATION"
ENV_SSL_KEY_PASSWORD = "KAFKA_SSL_KEY_PASSWORD"
ENV_SSL_CHECK_HOSTNAME = "KAFKA_SSL_CHECK_HOSTNAME"

# Kafka's own names, which both client libraries accept as they are.
PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
# What both libraries implement without extra system libraries. GSSAPI (Kerberos) needs
# cyrus-sasl/gssapi on the host and OAUTHBEARER a token callback: neither is offered.
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True)
class KafkaSecurity:
    """SASL and TLS settings of a Kafka client. The default is PLAINTEXT (the embedded broker)."""

    protocol: str = "PLAINTEXT"  # one of PROTOCOLS
    # SASL: only with SASL_PLAINTEXT or SASL_SSL, and then all three are required.
    sasl_mechanism: str | None = None  # one of SASL_MECHANISMS
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    # TLS: only with SSL or SASL_SSL. No CA file: the system's trust store (both libraries).
    ssl_ca_location: Path | None = None
    ssl_certificate_location: Path | None = None  # a client certificate (mutual TLS) ...
    ssl_key_location: Path | None = None  # ... needs its private key, and the other way round
    ssl_key_password: str | None = field(default=None, repr=False)  # an encrypted key's password
    # Checking that the broker's certificate names the host we dialled is what stops a
    # man in the middle holding any certificate from the same CA; turn it off only for brokers
    # reached by an address their certificate does not list.
    ssl_check_hostname: bool = True

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(
                f"`protocol` ({ENV_SECURITY_PROTOCOL}) must be one of {', '.join(PROTOCOLS)}, "
                f"got {self.protocol!r}"
            )
        self._check_sasl()
        self._check_tls()

    def _check_sasl(self) -> None:
        given = {
            ENV_SASL_MECHANISM: self.sasl_mechanism,
            ENV_SASL_USERNAME: self.sasl_username,
            ENV_SASL_PASSWORD: self.sasl_password,
        }
        if not self.uses_sasl:
            stray = [name for name, value in given.items() if value is not None]
            if stray:
                raise ValueError(
                    f"{', '.join(stray)} set but {ENV_SECURITY_PROTOCOL} is {self.protocol}; "
                    "SASL needs SASL_PLAINTEXT or SASL_SSL"
                )
            return
        if self.sasl_mechanism not in SASL_MECHANISMS:
            raise ValueError(
                f"`sasl_mechanism` ({ENV_SASL_MECHANISM}) must be one of {', '.join(SASL_MECHANISMS)} "
                f"with {ENV_SECURITY_PROTOCOL}={self.protocol}, got {self.sasl_mechanism!r}"
            )
        missing = [name for name, value in given.items() if not value]
        if missing:
            # Never echo a password, not even an empty one: name the variable only.
            raise ValueError(f"{ENV_SECURITY_PROTOCOL}={self.protocol} needs {' and '.join(missing)}")

    def _check_tls(self) -> None:
        files = {
            ENV_SSL_CA_LOCATION: self.ssl_ca_location,
            ENV_SSL_CERTIFICATE_LOCATION: self.ssl_certificate_location,
            ENV_SSL_KEY_LOCATION: self.ssl_key_location,
        }
        if not isinstance(self.ssl_check_hostname, bool):
            raise ValueError(
                f"`ssl_check_hostname` ({ENV_SSL_CHECK_HOSTNAME}) must be a bool, "
                f"got {self.ssl_check_hostname!r}"
            )
        if not self.uses_tls:
            stray = [name for name, value in files.items() if value is not None]
            stray += [ENV_SSL_KEY_PASSWORD] if self.ssl_key_password is not None else []
            stray += [ENV_SSL_CHECK_HOSTNAME] if not self.ssl_check_hostname else []
            if stray:
                raise ValueError(
                    f"{', '.join(stray)} set but {ENV_SECURITY_PROTOCOL} is {self.protocol}; "
                    "TLS needs SSL or SASL_SSL"
                )
            return
        if (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            raise ValueError(
                f"a client certificate needs both {ENV_SSL_CERTIFICATE_LOCATION} and "
                f"{ENV_SSL_KEY_LOCATION}; only one is set"
            )
        if self.ssl_key_password is not None and self.ssl_key_location is None:
            raise ValueError(f"{ENV_SSL_KEY_PASSWORD} is set but {ENV_SSL_KEY_LOCATION} is not")
        for name, path in files.items():
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{name} must name an existing file, got {str(path)!r}")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")


PLAINTEXT = KafkaSecurity()  # the default of every client: no authentication, no encryption


def librdkafka_config(security: KafkaSecurity) -> dict[str, str]:
    """The confluent-kafka (librdkafka) keys for ``security``; merge into a client's config."""
    config = {"security.protocol": security.protocol}
    if security.uses_sasl:
        config["sasl.mechanism"] = str(security.sasl_mechanism)
        config["sasl.username"] = str(security.sasl_username)
        config["sasl.password"] = str(security.sasl_password)
    if security.uses_tls:
        if security.ssl_ca_location is not None:
            config["ssl.ca.location"] = str(security.ssl_ca_location)
        if security.ssl_certificate_location is not None:
            config["ssl.certificate.location"] = str(security.ssl_certificate_location)
        if security.ssl_key_location is not None:
            config["ssl.key.location"] = str(security.ssl_key_location)
        if security.ssl_key_password is not None:
            config["ssl.key.password"] = security.ssl_key_password
        # librdkafka's switch for hostname checking ("https" is its default since 2.0; explicit
        # here so the two client libraries cannot drift apart).
        config["ssl.endpoint.identification.algorithm"] = "https" if security.ssl_check_hostname else "none"
    return config


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext | None:
    """aiokafka's side of TLS: a client context that verifies the broker (None without TLS).

    ``create_default_context`` verifies the chain and the hostname; with a CA file it trusts only
    that CA (as librdkafka's ``ssl.ca.location`` does), without one the system's store.
    """
    if not security.uses_tls:
        return None
    cafile = str(security.ssl_ca_location) if security.ssl_ca_location is not None else None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.check_hostname = security.ssl_check_hostname  # the chain is verified either way
    if security.ssl_certificate_location is not None and security.ssl_key_location is not None:
        context.load_cert_chain(
            str(security.ssl_certificate_location),
            str(security.ssl_key_location),
            password=security.ssl_key_password,
        )
    return context


def faust_credentials(security: KafkaSecurity) -> CredentialsT | None:
    """Faust's ``broker_credentials`` for ``security`` (None for PLAINTEXT).

    Faust's aiokafka driver turns these into the same ``security_protocol``, ``sasl_*`` and
    ``ssl_context`` arguments for the worker's consumer, its producer and its topic creation
    (``faust.transport.drivers.aiokafka.credentials_to_aiokafka_auth``); SCRAM included.
    """
    import faust  # here, not at the top: the CLI imports this module and rarely needs Faust

    context = ssl_context(security)
    if security.uses_sasl:
        # With an SSL context Faust switches the protocol to SASL_SSL, without it SASL_PLAINTEXT.
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password,
            mechanism=security.sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None
