"""The pure core: the partnership's rules as functions of plain values, standard library only
(money and the split, the chart of accounts, entries and the hash chain, periods, allocation,
vesting, tallies, succession, vetting, who may read what, the clock, codes and errors). Nothing
here imports Flask, SQLAlchemy or any other part of the product; import-linter keeps it so."""
