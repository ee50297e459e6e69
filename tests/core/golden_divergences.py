"""Golden cases where Tally deliberately differs from the oracle, with the reason.

Each entry must also be described in docs/compatibility.md.
"""

DIVERGENCES: dict[str, str] = {}
