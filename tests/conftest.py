"""Shared pytest configuration.

tests/golden/ holds the oracle's generator scripts, which import panoptes_aggregation and run
only inside the oracle venv (tests/golden/regenerate.py); they are not collected here.
"""

collect_ignore_glob = ["golden/*"]
