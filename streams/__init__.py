"""streamrec's streaming runtime: the Faust app, its agents, event contracts and the DuckDB store.

Kept light on purpose: importing ``streams.events`` must not load torch or Faust.
"""
