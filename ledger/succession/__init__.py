"""Succession: retiring partners, successors, forfeiture and buyout."""
