# oracle_runner.py imports the reference implementation, which exists only inside
# tests/golden/.oracle-venv; keep pytest's --doctest-modules collection away from it.
collect_ignore = ["oracle_runner.py"]
