"""Domain events recorded in the same transaction as the change they announce (a
transactional outbox): "bill issued", "payment received". Consumers (notices, the arrears
ladder) read them later and mark them consumed, so nothing is lost and nothing runs twice."""
