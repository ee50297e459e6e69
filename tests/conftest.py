"""Shared pytest configuration.

tests/golden/oracle_runner.py imports panoptes_aggregation and runs only inside the oracle venv
(tests/golden/regenerate.py builds it); it is not collected here. The rest of tests/golden/
(the structural checks of the committed goldens) runs in the normal suite.
"""

collect_ignore = ["golden/oracle_runner.py"]
