"""Both Kafka client libraries over a real TLS listener, configured from one KafkaSecurity.

The listener is mutual TLS (the client certificate is required) with a CA of the test's own and
a broker certificate for 127.0.0.1; the client key is encrypted. Tansu 0.6.0 cannot serve TLS
itself (see ``tests/fixtures/tls.py``), so a TLS-terminating proxy sits in front of a plaintext
Tansu that advertises the proxy's port: every connection the clients make, bootstrap and
metadata-directed alike, is TLS.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import aiokafka
import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from streams.kafka import ContractProducer, TopicReader, end_offsets, ensure_topics
from streams.kafka_security import KafkaSecurity, faust_credentials, librdkafka_config
from streams.local import TansuBroker
from tests.fixtures.kafka import free_port
from tests.fixtures.tls import KEY_PASSWORD, Pki, TlsTerminator, make_pki


@pytest.fixture(scope="module")
def tls_broker(
    pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TansuBroker, TlsTerminator]]:
    """Plaintext Tansu on one port, advertising the TLS proxy's port in its metadata."""
    broker_port = free_port()
    proxy = TlsTerminator(broker_port, pki.server_cert, pki.server_key, client_ca=pki.ca)
    proxy.start()
    log = tmp_path_factory.mktemp("tansu-tls") / "tansu.log"
    broker = TansuBroker("127.0.0.1", broker_port, log_path=log, advertised_port=proxy.port)
    try:
        broker.start()
        yield broker, proxy
    finally:
        broker.stop()
        proxy.stop()


@pytest.fixture(scope="module")
def wrong_host_proxy(pki: Pki, tls_broker: tuple[TansuBroker, TlsTerminator]) -> Iterator[TlsTerminator]:
    """The same broker behind a certificate from the same CA that names another host."""
    proxy = TlsTerminator(tls_broker[0].port, pki.wrong_host_cert, pki.wrong_host_key, client_ca=pki.ca)
    proxy.start()
    yield proxy
    proxy.stop()


def mutual_tls(pki: Pki, **changes: object) -> KafkaSecurity:
    security = KafkaSecurity(
        protocol="SSL",
        ssl_ca_location=pki.ca,
        ssl_certificate_location=pki.client_cert,
        ssl_key_location=pki.client_key,
        ssl_key_password=KEY_PASSWORD,
    )
    return replace(security, **changes)  # type: ignore[arg-type]


def test_confluent_kafka_clients_produce_and_consume_over_tls(
    pki: Pki, tls_broker: tuple[TansuBroker, TlsTerminator]
) -> None:
    """Topic admin, the producer, the reader and the watermark consumer, all through the proxy."""
    _, proxy = tls_broker
    security = mutual_tls(pki)
    topic = f"tls-confluent-{uuid.uuid4().hex[:8]}"
    assert ensure_topics(proxy.bootstrap, 1, topics=(topic,), security=security) == {topic: 1}
    with ContractProducer(proxy.bootstrap, security=security) as producer:
        producer.send(topic, "u1", json.dumps({"over": "tls"}).encode())
    assert end_offsets(proxy.bootstrap, topic, security=security) == {0: 1}
    with TopicReader(proxy.bootstrap, topic, from_beginning=True, security=security) as reader:
        assert reader.wait_for(lambda value: value.get("over") == "tls", timeout_s=20) == [{"over": "tls"}]


def test_aiokafka_with_fausts_credentials_produces_and_consumes_over_tls(
    pki: Pki, tls_broker: tuple[TansuBroker, TlsTerminator]
) -> None:
    """The exact keyword arguments Faust's driver derives from ``broker_credentials``."""
    _, proxy = tls_broker
    auth = credentials_to_aiokafka_auth(faust_credentials(mutual_tls(pki)))
    assert auth["security_protocol"] == "SSL"
    topic = f"tls-aiokafka-{uuid.uuid4().hex[:8]}"
    ensure_topics(proxy.bootstrap, 1, topics=(topic,), security=mutual_tls(pki))

    async def round_trip() -> bytes | None:
        producer = aiokafka.AIOKafkaProducer(bootstrap_servers=proxy.bootstrap, **auth)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"hello over tls", key=b"u1")
        finally:
            await producer.stop()
        consumer = aiokafka.AIOKafkaConsumer(
            topic, bootstrap_servers=proxy.bootstrap, auto_offset_reset="earliest", **auth
        )
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), timeout=20)
            return record.value
        finally:
            await consumer.stop()

    assert asyncio.run(round_trip()) == b"hello over tls"


def _confluent_reaches(bootstrap: str, security: KafkaSecurity) -> bool:
    admin = AdminClient({**librdkafka_config(security), "bootstrap.servers": bootstrap, "log_level": 0})
    try:
        admin.list_topics(timeout=3)
    except KafkaException:
        return False
    return True


def _aiokafka_reaches(bootstrap: str, security: KafkaSecurity) -> bool:
    auth = credentials_to_aiokafka_auth(faust_credentials(security))

    async def bootstrap_once() -> bool:
        client = aiokafka.AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **auth)
        try:
            await client.bootstrap()
        except aiokafka.errors.KafkaConnectionError:
            return False
        finally:
            await client.close()
        return True

    return asyncio.run(bootstrap_once())


@pytest.mark.parametrize(
    "reaches", [_confluent_reaches, _aiokafka_reaches], ids=["confluent-kafka", "aiokafka"]
)
def test_hostname_checking_refuses_a_certificate_for_another_host(
    pki: Pki, wrong_host_proxy: TlsTerminator, reaches: object
) -> None:
    """On by default on both sides; KAFKA_SSL_CHECK_HOSTNAME=false still verifies the chain."""
    assert callable(reaches)
    assert reaches(wrong_host_proxy.bootstrap, mutual_tls(pki)) is False
    assert reaches(wrong_host_proxy.bootstrap, mutual_tls(pki, ssl_check_hostname=False)) is True


def test_the_listener_requires_the_client_certificate(
    pki: Pki, tls_broker: tuple[TansuBroker, TlsTerminator]
) -> None:
    """Without it the handshake fails: so the passing tests above did present it."""
    _, proxy = tls_broker
    without = KafkaSecurity(protocol="SSL", ssl_ca_location=pki.ca)
    assert _confluent_reaches(proxy.bootstrap, without) is False
    assert _confluent_reaches(proxy.bootstrap, mutual_tls(pki)) is True


def test_an_untrusted_ca_is_refused(
    pki: Pki, tls_broker: tuple[TansuBroker, TlsTerminator], tmp_path: Path
) -> None:
    """Trusting only another CA (``KAFKA_SSL_CA_LOCATION``) fails the handshake on both sides."""
    other = make_pki(tmp_path / "other")
    _, proxy = tls_broker
    security = mutual_tls(pki, ssl_ca_location=other.ca)
    assert _confluent_reaches(proxy.bootstrap, security) is False
    assert _aiokafka_reaches(proxy.bootstrap, security) is False
