"""`python -m api.cli` runs the wattdesk command line."""

from api.cli import main

main()
