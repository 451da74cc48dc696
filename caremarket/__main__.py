"""`python -m caremarket` runs the CLI."""

from caremarket.cli import main

main()
