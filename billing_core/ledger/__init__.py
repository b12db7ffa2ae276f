"""The ledger: immutable entries per account (charges, payments, late fees, adjustments,
refunds, write-offs); balances, bill open amounts and bill statuses are derived from them."""
