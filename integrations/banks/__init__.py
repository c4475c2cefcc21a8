"""The banks holding the departments' settlement accounts: their statements (docs/banks.md)."""
