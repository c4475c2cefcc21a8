"""A day's receipt file, the zip ``download_by_date`` answers, as the receipts frame of
integrations.statements (RECEIPT_COLUMNS): one row per receipt, in the zip's order.

Every receipt is read and both its signatures verified before it is a row: a file holding
one that cannot be read, or does not verify, is refused (StatementInvalid) naming the
receipt's place in the zip as its line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd

from integrations.errors import StatementInvalid
from integrations.receipts import receipt_file
from integrations.receipts.base import InvalidReceipt, IssuedReceipt
from integrations.statements import RECEIPT_COLUMNS, empty, typed


def day_receipts(content: bytes, read: Callable[[bytes], IssuedReceipt]) -> list[IssuedReceipt]:
    """The file's receipts in order, each read (and verified) with ``read``."""
    try:
        files = receipt_file.xml_files_from_zip(content)
    except InvalidReceipt as exc:
        raise StatementInvalid(0, str(exc)) from exc
    receipts = []
    for line, xml in enumerate(files, start=1):
        try:
            receipts.append(read(xml))
        except InvalidReceipt as exc:
            raise StatementInvalid(line, str(exc)) from exc
    return receipts


def receipts_frame(receipts: Sequence[IssuedReceipt]) -> pd.DataFrame:
    if not receipts:
        return empty(RECEIPT_COLUMNS)
    frame = pd.DataFrame(
        {
            "line_no": range(1, len(receipts) + 1),
            "business_id": [receipt.business_id for receipt in receipts],
            "kind": ["red" if receipt.is_red else "normal" for receipt in receipts],
            "code": [receipt.code for receipt in receipts],
            "number": [receipt.number for receipt in receipts],
            "department": [receipt.face.invoicing_party_code for receipt in receipts],
            "amount": [receipt.total_fen for receipt in receipts],
            "issued_at": pd.to_datetime([receipt.issued_at for receipt in receipts], utc=True),
        }
    )
    return typed(frame, RECEIPT_COLUMNS)
