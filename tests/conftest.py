"""Test configuration: real broker, real Triton and real worker fixtures, once per session, and a
throwaway certificate authority for the Kafka TLS tests."""

pytest_plugins = ["tests.fixtures.triton", "tests.fixtures.kafka", "tests.fixtures.tls"]
