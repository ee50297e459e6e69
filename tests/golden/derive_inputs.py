"""Derived CLI inputs (stdlib only).

Two real exports cannot be read by the reference CLI as they are (see README):

* ``Data-digging/camcat_sa.csv`` is latin-1 encoded; the reference reads CSVs as
  utf-8 and stops with ``UnicodeDecodeError``.  Transform ``transcode`` re-encodes
  the bytes as utf-8 (nothing else changes).
* ``label_reconciliations/expandedNfN_1931.csv`` has ``extended_user_id`` instead
  of ``user_name``/``user_id``; the reference stops with ``AttributeError``.
  Transform ``nfn_user_columns`` appends two columns: ``user_name`` (a copy of
  ``extended_user_id``) and ``user_id`` (``int(float(extended_user_id))`` when
  that parses, else empty), and rewrites the file with Python's csv module
  (QUOTE_MINIMAL, '\\n' line ends).

Both the oracle runner and our own golden tests call :func:`derive`, so the
derived files are byte-identical on both sides.
"""

import csv
import io
import sys
from pathlib import Path


def _nfn_user_columns(text):
    csv.field_size_limit(sys.maxsize)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], rows[1:]
    src = header.index("extended_user_id")
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header + ["user_name", "user_id"])
    for r in body:
        ext = r[src]
        try:
            uid = str(int(float(ext)))
        except ValueError:
            uid = ""
        w.writerow(r + [ext, uid])
    return out.getvalue()


def derive(src, dst, spec):
    """Write the derived version of `src` to `dst` following `spec` (a dict with 'transform')."""
    src, dst = Path(src), Path(dst)
    raw = src.read_bytes()
    t = spec["transform"]
    if t == "transcode":
        data = raw.decode(spec.get("from_encoding", "latin-1")).encode("utf-8")
    elif t == "nfn_user_columns":
        data = _nfn_user_columns(raw.decode("utf-8")).encode("utf-8")
    else:
        raise ValueError(f"unknown transform {t!r}")
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(data)
    return dst


def derived_name(classifications_rel, spec):
    stem = Path(classifications_rel).stem
    return f"{stem}.{spec['transform']}.csv"
