"""Reading a shop's export: files of any supported format into typed invoice lines and rejected lines."""
