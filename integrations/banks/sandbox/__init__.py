"""The sandbox bank, mounted under /sandbox/banks/."""
