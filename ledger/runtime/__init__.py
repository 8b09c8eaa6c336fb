"""What the delivery layers share at run time: configuration, the database session of a request or
command (carrying the clock), and HTTP errors as problem+json."""
