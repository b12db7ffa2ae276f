"""Customers, their accounts, tariff assignments and contacts."""
