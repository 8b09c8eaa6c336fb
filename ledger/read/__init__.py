"""The read models the API, the web app and the CLI share: what each shows of entries (with the
one visibility rule), statements, the directory, proposals, and their CSV/PDF renderings. Reads
write nothing."""
