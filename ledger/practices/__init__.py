"""Partners, practices and ownership, clients, outside firms, engagements."""
