"""Tally's streaming side: Kafka client settings and Faust apps (see docs/kafka-local.md)."""
