"""`python -m rocker.ociruntime`: the same as the `rocker-runtime` command."""

from rocker.ociruntime.cli import main

main()
