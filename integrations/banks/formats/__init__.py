"""The statement formats banks send, each read into the BANK_COLUMNS frame.

``camt053`` (ISO 20022), ``mt940`` (SWIFT) and ``csv_layout`` (an export read through a
CsvLayout) each parse one format; ``values`` reads the text columns they share as fen
and dates.
"""
