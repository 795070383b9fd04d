"""Events to apps (decisions.md §7): the outbox, Standard Webhooks signing, delivery."""
