"""The utility's business: data model, tariffs, readings, bills, ledger, arrears and the
use-case services every front end calls. Imports no web, chat or SMS library."""
