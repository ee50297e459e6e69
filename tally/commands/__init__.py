"""One module per ``tally`` subcommand; each has ``add_parser(subparsers)`` and ``run(args)``."""
