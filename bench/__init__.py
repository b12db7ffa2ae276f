"""The benchmarks behind `wattdesk bench …`: measuring code kept out of the product packages
(which never import it; the CLI registers `bench.cli` as a sub-app)."""
