"""The fiscal receipt platform (财政电子票据): issuing, red-letter issue, query, download and
verification of electronic fiscal receipts, each verified with the published SM2 keys.

    base            the contract: request and result dataclasses, the Protocol, errors
    platform        HttpReceiptPlatform (the HTTP calls) and build_receipt_platform(config)
    wire            the signed form requests and answers, amounts in yuan on the wire
    receipt_file    a receipt's XML read and its two signatures verified
    day_file        a day's zip of receipts as the receipts frame, for reconciliation
"""
