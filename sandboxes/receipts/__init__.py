"""A sandbox of a province's fiscal receipt service platform (财政电子票据服务平台).

Written from docs/receipt_platform.md: it issues electronic fiscal receipts from a number
range per invoicing party, signs each with the issuing unit's and the finance
department's SM2 keys, and serves query, download, verification and red-letter issue.
"""
