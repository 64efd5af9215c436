"""Test configuration: real broker, real Triton and real worker fixtures, once per session."""

pytest_plugins = ["tests.fixtures.triton", "tests.fixtures.kafka"]
