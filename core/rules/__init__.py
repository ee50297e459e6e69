"""Rules: Caesar's JSON condition language, rule files and fire-once effect decisions."""
