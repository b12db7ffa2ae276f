"""Payments: pay links, checkout providers (sandbox, Stripe), other channels, duplicates and
refunds. Every payment lands in the ledger."""
