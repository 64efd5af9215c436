"""Kafka SASL/TLS: environment -> one validated KafkaSecurity -> librdkafka keys and Faust's aiokafka.

The round trip over a real TLS listener is in ``tests/streams/kafka/test_tls.py``; here every
protocol and mechanism is mapped without a broker, and Faust is asked what it would hand aiokafka
by building the worker's own app (``create_app``) and its clients, without connecting.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
import pytest
from confluent_kafka import KafkaException, Producer

from streams.app import create_app
from streams.kafka_security import (
    PLAINTEXT,
    SASL_MECHANISMS,
    KafkaSecurity,
    faust_credentials,
    librdkafka_config,
    ssl_context,
)
from streams.settings import Settings, kafka_security_from_env
from tests.fixtures.tls import KEY_PASSWORD, Pki

SECRET = "s3cret-that-must-not-leak"


def sasl(protocol: str, mechanism: str, **tls: Any) -> KafkaSecurity:
    return KafkaSecurity(
        protocol=protocol, sasl_mechanism=mechanism, sasl_username="streamrec", sasl_password=SECRET, **tls
    )


def mutual_tls(pki: Pki, protocol: str = "SSL", **changes: Any) -> KafkaSecurity:
    fields: dict[str, Any] = {
        "ssl_ca_location": pki.ca,
        "ssl_certificate_location": pki.client_cert,
        "ssl_key_location": pki.client_key,
        "ssl_key_password": KEY_PASSWORD,
        **changes,
    }
    if protocol == "SASL_SSL":
        return sasl(protocol, "SCRAM-SHA-512", **fields)
    return KafkaSecurity(protocol=protocol, **fields)


# -- environment -> object ------------------------------------------------------------------


def test_no_kafka_variables_mean_plaintext_everywhere() -> None:
    assert Settings.from_env({}).kafka_security == PLAINTEXT == KafkaSecurity()
    assert librdkafka_config(PLAINTEXT) == {"security.protocol": "PLAINTEXT"}
    assert faust_credentials(PLAINTEXT) is None
    assert ssl_context(PLAINTEXT) is None


def test_every_variable_lands_in_its_field(pki: Pki) -> None:
    settings = Settings.from_env(
        {
            "KAFKA_BOOTSTRAP_SERVERS": "kafka-0:9093",
            "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",  # any case, as Kafka's own tools accept
            "KAFKA_SASL_MECHANISM": "scram-sha-256",
            "KAFKA_SASL_USERNAME": "streamrec",
            "KAFKA_SASL_PASSWORD": SECRET,
            "KAFKA_SSL_CA_LOCATION": str(pki.ca),
            "KAFKA_SSL_CERTIFICATE_LOCATION": str(pki.client_cert),
            "KAFKA_SSL_KEY_LOCATION": str(pki.client_key),
            "KAFKA_SSL_KEY_PASSWORD": KEY_PASSWORD,
            "KAFKA_SSL_CHECK_HOSTNAME": "false",
        }
    )
    assert settings.kafka_security == KafkaSecurity(
        protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="streamrec",
        sasl_password=SECRET,
        ssl_ca_location=pki.ca,
        ssl_certificate_location=pki.client_cert,
        ssl_key_location=pki.client_key,
        ssl_key_password=KEY_PASSWORD,
        ssl_check_hostname=False,
    )


def test_passwords_can_come_from_mounted_secret_files(tmp_path: Path, pki: Pki) -> None:
    """The ``*_FILE`` form (a Kubernetes Secret volume); ``echo``'s trailing newline is dropped."""
    (tmp_path / "sasl").write_text(SECRET + "\n", encoding="utf-8")
    (tmp_path / "key").write_text(KEY_PASSWORD, encoding="utf-8")
    security = kafka_security_from_env(
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "streamrec",
            "KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "sasl"),
            "KAFKA_SSL_CERTIFICATE_LOCATION": str(pki.client_cert),
            "KAFKA_SSL_KEY_LOCATION": str(pki.client_key),
            "KAFKA_SSL_KEY_PASSWORD_FILE": str(tmp_path / "key"),
        }
    )
    assert (security.sasl_password, security.ssl_key_password) == (SECRET, KEY_PASSWORD)
    assert security.ssl_check_hostname is True  # the default


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", True), ("true", True), ("1", True), ("Yes", True), ("on", True)]
    + [("false", False), ("0", False), ("NO", False), ("off", False)],
)
def test_hostname_checking_variable(raw: str, expected: bool) -> None:
    env = {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CHECK_HOSTNAME": raw}
    assert kafka_security_from_env(env).ssl_check_hostname is expected


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI"}, "KAFKA_SASL_MECHANISM"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CHECK_HOSTNAME": "maybe"}, "KAFKA_SSL_CHECK_HOSTNAME"),
        ({"KAFKA_SASL_PASSWORD": SECRET, "KAFKA_SASL_PASSWORD_FILE": "/x"}, "KAFKA_SASL_PASSWORD_FILE"),
        ({"KAFKA_SSL_KEY_PASSWORD_FILE": "/does/not/exist"}, "KAFKA_SSL_KEY_PASSWORD_FILE"),
        ({"KAFKA_SSL_CA_LOCATION": "/does/not/exist.pem"}, "KAFKA_SSL_CA_LOCATION"),
    ],
)
def test_bad_variables_are_named_in_the_error(env: dict[str, str], names: str) -> None:
    with pytest.raises(ValueError, match=names) as raised:
        Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "kafka:9093", **env})
    assert SECRET not in str(raised.value)


def test_the_embedded_broker_cannot_be_given_tls_or_sasl() -> None:
    """Tansu 0.6.0 speaks PLAINTEXT only: say so at start-up, not as a handshake timeout."""
    with pytest.raises(ValueError, match="KAFKA_BOOTSTRAP_SERVERS"):
        Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SSL"})


# -- the object validates itself -------------------------------------------------------------

# A complete SASL/PLAIN setting that each case below breaks in one way.
_SASL = {"sasl_mechanism": "PLAIN", "sasl_username": "u", "sasl_password": SECRET}


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"protocol": "plaintext"}, "KAFKA_SECURITY_PROTOCOL"),  # the object itself is exact
        ({"protocol": "SASL_PLAINTEXT", **_SASL, "sasl_mechanism": None}, "KAFKA_SASL_MECHANISM"),
        ({"protocol": "SASL_SSL", **_SASL, "sasl_mechanism": "OAUTHBEARER"}, "KAFKA_SASL_MECHANISM"),
        ({"protocol": "SASL_SSL", **_SASL, "sasl_username": None}, "needs KAFKA_SASL_USERNAME$"),
        ({"protocol": "SASL_PLAINTEXT", **_SASL, "sasl_password": ""}, "needs KAFKA_SASL_PASSWORD$"),
        ({"protocol": "SSL", **_SASL}, "SASL needs SASL_PLAINTEXT or SASL_SSL"),
        ({"sasl_mechanism": "PLAIN"}, "KAFKA_SASL_MECHANISM set but KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
        (
            {"protocol": "SASL_PLAINTEXT", **_SASL, "ssl_check_hostname": False},
            "KAFKA_SSL_CHECK_HOSTNAME set",
        ),
        ({"ssl_key_password": SECRET}, "KAFKA_SSL_KEY_PASSWORD set but"),
        ({"protocol": "SSL", "ssl_check_hostname": "no"}, "must be a bool"),
    ],
)
def test_inconsistent_settings_are_refused(fields: dict[str, Any], names: str) -> None:
    with pytest.raises(ValueError, match=names) as raised:
        KafkaSecurity(**fields)
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        (
            lambda p: {"ssl_certificate_location": p.client_cert},
            "KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY",
        ),
        (lambda p: {"ssl_key_location": p.client_key}, "KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY"),
        (lambda p: {"ssl_key_password": KEY_PASSWORD}, "KAFKA_SSL_KEY_PASSWORD is set but KAFKA_SSL_KEY"),
        (lambda p: {"ssl_ca_location": p.ca.with_name("missing.pem")}, "KAFKA_SSL_CA_LOCATION must name"),
        (
            lambda p: {"ssl_certificate_location": p.client_cert, "ssl_key_location": p.ca.parent},
            "KAFKA_SSL_KEY_LOCATION must name an existing file",
        ),
    ],
)
def test_tls_files_must_pair_up_and_exist(
    pki: Pki, fields: Callable[[Pki], dict[str, Any]], names: str
) -> None:
    with pytest.raises(ValueError, match=names):
        KafkaSecurity(protocol="SSL", **fields(pki))


def test_secrets_never_appear_in_reprs(pki: Pki) -> None:
    security = mutual_tls(pki, "SASL_SSL")
    settings = Settings(bootstrap_servers="kafka:9093", kafka_security=security)
    for text in (repr(security), str(security), repr(settings), repr(faust_credentials(security))):
        assert SECRET not in text and KEY_PASSWORD not in text
    assert "streamrec" in repr(security)  # the user name is not a secret, and helps debugging


# -- the librdkafka side --------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", SASL_MECHANISMS)
def test_sasl_plaintext_for_librdkafka(mechanism: str) -> None:
    assert librdkafka_config(sasl("SASL_PLAINTEXT", mechanism)) == {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": "streamrec",
        "sasl.password": SECRET,
    }


@pytest.mark.parametrize("mechanism", SASL_MECHANISMS)
def test_sasl_ssl_with_the_system_trust_store_for_librdkafka(mechanism: str) -> None:
    assert librdkafka_config(sasl("SASL_SSL", mechanism)) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": mechanism,
        "sasl.username": "streamrec",
        "sasl.password": SECRET,
        "ssl.endpoint.identification.algorithm": "https",
    }


def test_mutual_tls_for_librdkafka(pki: Pki) -> None:
    assert librdkafka_config(mutual_tls(pki, ssl_check_hostname=False)) == {
        "security.protocol": "SSL",
        "ssl.ca.location": str(pki.ca),
        "ssl.certificate.location": str(pki.client_cert),
        "ssl.key.location": str(pki.client_key),
        "ssl.key.password": KEY_PASSWORD,
        "ssl.endpoint.identification.algorithm": "none",
    }


def test_server_only_tls_for_librdkafka(pki: Pki) -> None:
    assert librdkafka_config(KafkaSecurity(protocol="SSL", ssl_ca_location=pki.ca)) == {
        "security.protocol": "SSL",
        "ssl.ca.location": str(pki.ca),
        "ssl.endpoint.identification.algorithm": "https",
    }


@pytest.mark.parametrize(
    "make",
    [
        lambda p: sasl("SASL_PLAINTEXT", "PLAIN"),
        lambda p: sasl("SASL_PLAINTEXT", "SCRAM-SHA-256"),
        lambda p: sasl("SASL_SSL", "SCRAM-SHA-512", ssl_ca_location=p.ca),
        lambda p: mutual_tls(p),
        lambda p: mutual_tls(p, "SASL_SSL", ssl_check_hostname=False),
    ],
    ids=["plain", "scram-256", "scram-512-ssl", "mtls", "sasl-mtls-no-hostname"],
)
def test_librdkafka_accepts_every_mapping(pki: Pki, make: Callable[[Pki], KafkaSecurity]) -> None:
    """librdkafka checks keys, values and the key files when a client is built (no broker needed)."""
    Producer({**librdkafka_config(make(pki)), "bootstrap.servers": "127.0.0.1:1"}).flush(0)


def test_librdkafka_really_loads_the_encrypted_key(pki: Pki) -> None:
    """So the test above can fail: a wrong key password is refused when the client is built."""
    with pytest.raises(KafkaException, match="ssl.key"):
        Producer({**librdkafka_config(mutual_tls(pki, ssl_key_password="wrong")), "bootstrap.servers": "x:1"})


# -- the Faust / aiokafka side --------------------------------------------------------------


def test_faust_credentials_per_protocol(pki: Pki) -> None:
    assert faust_credentials(KafkaSecurity()) is None
    ssl_only = faust_credentials(mutual_tls(pki))
    assert isinstance(ssl_only, faust.SSLCredentials) and ssl_only.protocol.value == "SSL"
    plain = faust_credentials(sasl("SASL_PLAINTEXT", "SCRAM-SHA-256"))
    assert isinstance(plain, faust.SASLCredentials)
    assert (plain.protocol.value, plain.mechanism.value, plain.ssl_context) == (
        "SASL_PLAINTEXT",
        "SCRAM-SHA-256",
        None,
    )
    over_tls = faust_credentials(mutual_tls(pki, "SASL_SSL"))
    assert isinstance(over_tls, faust.SASLCredentials)
    assert (over_tls.protocol.value, over_tls.mechanism.value) == ("SASL_SSL", "SCRAM-SHA-512")


def test_the_ssl_context_verifies_the_broker(pki: Pki) -> None:
    context = ssl_context(mutual_tls(pki))
    assert context is not None
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    relaxed = ssl_context(mutual_tls(pki, ssl_check_hostname=False))
    assert relaxed is not None
    assert (relaxed.verify_mode, relaxed.check_hostname) == (ssl.CERT_REQUIRED, False)
    with pytest.raises(ssl.SSLError):  # the key password is really used
        ssl_context(mutual_tls(pki, ssl_key_password="wrong"))


def _aiokafka_clients(settings: Settings) -> list[Any]:
    """The aiokafka clients (worker consumer, producer) the worker's app would start, unstarted."""
    app, runtime = create_app(settings)

    transport: Any = app.transport  # Faust's aiokafka driver, below its typed interface
    faust_producer: Any = app.producer

    async def build() -> list[Any]:
        consumer = transport.create_consumer(
            callback=lambda *_: None,
            on_partitions_revoked=lambda *_: None,
            on_partitions_assigned=lambda *_: None,
        )
        worker_consumer = consumer._new_consumer_thread()._create_worker_consumer(transport)
        producer = faust_producer._new_producer()
        clients = [worker_consumer._client, producer.client]
        await worker_consumer.stop()
        await producer.stop()
        return clients

    try:
        return asyncio.run(build())
    finally:
        runtime.store.close()


@pytest.mark.parametrize(
    ("make", "protocol", "mechanism", "tls"),
    [
        (lambda p: KafkaSecurity(), "PLAINTEXT", "PLAIN", False),  # aiokafka's default mechanism, unused
        (lambda p: sasl("SASL_PLAINTEXT", "PLAIN"), "SASL_PLAINTEXT", "PLAIN", False),
        (lambda p: sasl("SASL_PLAINTEXT", "SCRAM-SHA-256"), "SASL_PLAINTEXT", "SCRAM-SHA-256", False),
        (
            lambda p: sasl("SASL_SSL", "SCRAM-SHA-512", ssl_ca_location=p.ca),
            "SASL_SSL",
            "SCRAM-SHA-512",
            True,
        ),
        (lambda p: mutual_tls(p), "SSL", "PLAIN", True),
    ],
    ids=["plaintext", "sasl-plain", "sasl-scram-256", "sasl-ssl-scram-512", "mtls"],
)
def test_the_worker_app_hands_aiokafka_the_same_settings(
    tmp_path: Path, pki: Pki, make: Callable[[Pki], KafkaSecurity], protocol: str, mechanism: str, tls: bool
) -> None:
    security = make(pki)
    settings = Settings(bootstrap_servers="127.0.0.1:1", data_dir=tmp_path, kafka_security=security)
    for client in _aiokafka_clients(settings):
        assert client._security_protocol == protocol
        assert client._sasl_mechanism == mechanism
        assert client._sasl_plain_username == security.sasl_username
        assert client._sasl_plain_password == security.sasl_password
        context = client._ssl_context
        assert isinstance(context, ssl.SSLContext) if tls else context is None
        if tls:
            assert context.check_hostname is security.ssl_check_hostname
