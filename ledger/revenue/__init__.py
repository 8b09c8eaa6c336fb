"""Revenue and cost sharing: periods, policy versions, allocation, close, statements."""
