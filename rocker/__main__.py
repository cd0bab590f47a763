"""`python -m rocker` runs the CLI."""
from rocker.cli.main import main

main()
