"""streamrec's streaming runtime: the Faust worker, its agents, event contracts and the DuckDB store.

The rooms, bottom floor first (``ARCHITECTURE.md`` draws them):

* ``settings``, ``exceptions``, ``metrics``: the ground floor every room may use;
* ``contracts``: event models, validation and topic names (pydantic only);
* ``store``: DuckDB, the single writer, one module per guarantee;
* ``kafka``: short-lived confluent-kafka clients (admin, producer, reader);
* ``delivery``: how agents consume and publish without losing a record (Faust side);
* ``agents``: one module per Faust agent or task; ``app`` wires them, ``worker`` runs them;
* ``replay``: datasets published as live traffic; ``local``: the embedded stack of ``up``;
* ``cli``: the ``streamrec`` command; ``bench``: benchmarks.

Kept light on purpose: importing ``streams.contracts`` must not load torch or Faust.
"""
