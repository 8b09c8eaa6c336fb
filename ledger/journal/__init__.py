"""The double-entry journal: its models (the books' settings, periods, accounts, entries, postings,
detail), the posting service (the only writer of entries), balances, the period guard, verify,
the exports and the bulk import. It imports the core and the plumbing, nothing of the areas."""
