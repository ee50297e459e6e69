"""Tally's command line: ``tally config | extract | reduce`` and friends."""
