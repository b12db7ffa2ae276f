"""Arrears: what follows an unpaid bill (late fees, their waivers; the arrears ladder next).
It reads bills and writes the ledger, so it sits above both."""
