"""Payment adapters: checkout providers and their webhooks (Stripe), mounted by `api.app`."""
