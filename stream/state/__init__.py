"""State-store backends for the engine (core.state.StateStore): rocksdict (embedded) and Faust."""
