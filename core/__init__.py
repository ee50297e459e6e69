"""Tally's pure aggregation core: annotation model, extractors, reducers, auto-config, engine.

Nothing in this package does I/O or imports Kafka or Faust.
"""
