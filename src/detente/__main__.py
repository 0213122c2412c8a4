"""`python -m detente` runs the `detente` command."""

from detente.cli import main

main()
