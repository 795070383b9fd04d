"""imgpro: identity, image storage, image CDN and billing, self-hosted."""
