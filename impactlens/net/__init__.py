"""Outbound network access on behalf of tenants (webhooks): checked, pinned, no redirects."""
