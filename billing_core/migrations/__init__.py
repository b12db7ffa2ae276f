"""Alembic migrations; run through billing_core.db.migrate or `wattdesk db upgrade`."""
