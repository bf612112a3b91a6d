"""Product categories learned from the descriptions of the stock codes."""
