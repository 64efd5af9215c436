"""``python -m streams.cli``: the same as the ``streamrec`` command."""

from streams.cli.main import main

main()
