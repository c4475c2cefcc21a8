"""Integer keys over both sides, each row's rank among the rows of its key, and the pairs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _joint_keys(
    ours: pd.Series, theirs: pd.Series, our_flag: np.ndarray, their_flag: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Integer keys over both sides: the value's rank among the distinct values of both
    (so ordering by key is ordering by value) doubled, plus a flag (refund). A missing
    value gets a key of its own, negative, that pairs with nothing."""
    keys = _sorted_codes([ours, theirs])
    missing = keys < 0
    keys *= 2  # in place: at ten million rows a side, each temporary is 160 MB
    keys[: len(ours)] += our_flag
    keys[len(ours) :] += their_flag
    keys[missing] = -1 - np.flatnonzero(missing)
    return keys[: len(ours)], keys[len(ours) :]


def _sorted_codes(parts: Sequence[pd.Series]) -> np.ndarray:
    """pd.factorize(sort=True) over the parts together, through Arrow (several times faster
    on millions of strings); Arrow orders UTF-8 bytes, which is code point order, as Python.
    Missing values get -1."""
    chunks = [chunk for part in parts for chunk in _arrow_text(part).chunks]
    encoded = pc.dictionary_encode(pa.chunked_array(chunks, type=pa.string())).combine_chunks()
    indices = encoded.indices
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    del encoded  # the distinct values, not needed past their order
    rank = np.empty(len(order) + 1, dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    rank[-1] = -1  # the slot for missing values
    return rank[(indices.fill_null(-1) if indices.null_count else indices).to_numpy()]


def _arrow_text(part: pd.Series) -> pa.ChunkedArray:
    """A text column as Arrow: as it is when Arrow holds it already."""
    if isinstance(part.dtype, pd.StringDtype):
        arrow = pa.array(part.array)
    else:
        arrow = pa.array(part.to_numpy(dtype=object, na_value=None), type=pa.string())
    chunked = arrow if isinstance(arrow, pa.ChunkedArray) else pa.chunked_array([arrow])
    return chunked.cast(pa.string())


def _ranks(keys: np.ndarray, by: Sequence[np.ndarray], frame: pd.DataFrame) -> np.ndarray:
    """Each row's position among the rows of its key, ordered by `by`, then by content.

    Only rows whose key repeats are sorted. The content hash breaks the remaining ties, so
    the ranks do not depend on the order the rows came in.
    """
    n = len(keys)
    ranks = np.zeros(n, dtype=np.int64)
    known = keys >= 0
    if not known.any():
        return ranks
    counts = np.bincount(keys[known])
    repeated = np.flatnonzero(known)[counts[keys[known]] > 1]
    if not len(repeated):
        return ranks
    content = pd.util.hash_pandas_object(
        frame.iloc[repeated].reset_index(drop=True), index=False
    ).to_numpy()
    sub_keys = keys[repeated]
    order = np.lexsort((content, *(column[repeated] for column in reversed(list(by))), sub_keys))
    sorted_keys = sub_keys[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
    position = np.arange(len(order), dtype=np.int64)
    ranks[repeated[order]] = position - np.maximum.accumulate(np.where(starts, position, 0))
    return ranks


def _pair(
    o_key: np.ndarray, o_rank: np.ndarray, t_key: np.ndarray, t_rank: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Row indexes of the pairs with equal (key, rank); keys below zero pair with nothing.

    Rank 0 (nearly every row) pairs through a table indexed by key; repeats by sorting.
    """
    none = np.zeros(0, dtype=np.int64)
    if not len(o_key) or not len(t_key):
        return none, none
    size = int(max(o_key.max(), t_key.max())) + 1
    if size <= 0:
        return none, none
    first_t = np.flatnonzero((t_key >= 0) & (t_rank == 0))
    where = np.full(size, -1, dtype=np.int64)
    where[t_key[first_t]] = first_t
    first_o = np.flatnonzero((o_key >= 0) & (o_rank == 0))
    partner = where[o_key[first_o]]
    found = partner >= 0
    pairs_o, pairs_t = [first_o[found]], [partner[found]]
    later_o = np.flatnonzero((o_key >= 0) & (o_rank > 0))
    later_t = np.flatnonzero((t_key >= 0) & (t_rank > 0))
    if len(later_o) and len(later_t):
        width = int(max(o_rank.max(), t_rank.max())) + 1
        _, po, pt = np.intersect1d(
            o_key[later_o] * width + o_rank[later_o],
            t_key[later_t] * width + t_rank[later_t],
            assume_unique=True,
            return_indices=True,
        )
        pairs_o.append(later_o[po])
        pairs_t.append(later_t[pt])
    return np.concatenate(pairs_o).astype(np.int64), np.concatenate(pairs_t).astype(np.int64)


def _unpaired(n: int, paired: np.ndarray) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    mask[paired] = False
    return np.flatnonzero(mask)


def _key(
    types: pd.Series,
    kind: pd.Series | None,
    our_ref: pd.Series,
    their_ref: pd.Series | None,
    rank: np.ndarray,
) -> pd.Series:
    """`type:kind:our_ref:their_ref`, with `#n` for the n-th repeat of one key."""
    key = types.fillna("")
    if kind is not None:
        key = key + ":" + kind.fillna("")
    key = key + ":" + our_ref.fillna("")
    if their_ref is not None:
        key = key + ":" + their_ref.fillna("")
    suffix = pd.Series(np.asarray(rank, dtype=np.int64), index=key.index)
    tail = ("#" + suffix.astype("string")).where(suffix > 0, "")
    return (key + tail).astype("string")
