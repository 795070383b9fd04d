"""Mailers: console + a development outbox, or SMTP (IMGPRO_MAIL_URL)."""
