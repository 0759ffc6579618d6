#!/usr/bin/env python3
"""What one run's `service_reads` rows cost on disk, per row layout (issue #20).

An unchanged national re-run adds ~5 MB to the history, ~4 MB of it one `service_reads` row per
service (190,000): (run_id, version_id) key, read time, HTTP status, decoded bytes. This writes
three runs of 190,000 rows into a fresh SQLite file for each candidate layout, in random key
order and batches of 256 as a run settles them, and prints what runs 2 and 3 add (MB). No
dvc-audit code runs: it measures SQLite's storage of the row shapes, so a layout can be judged
before a schema change. Run: `python3 benches/reads_layout.py` (~1 minute, stdlib only).
"""
import os
import random
import sqlite3
import sys
import tempfile

N = 190_000
TABLE = ("CREATE TABLE r (run_id INTEGER NOT NULL, version_id INTEGER NOT NULL, {cols}, "
         "PRIMARY KEY (run_id, version_id)) WITHOUT ROWID")


def at_ms():
    # A national run reads its pages between ~2 and ~7 minutes after it starts.
    return random.randint(100_000, 400_000)


LAYOUTS = [
    ("schema 7 (today): at_ms, fetched_at, status, bytes; a 304 stores status 304, bytes 0",
     "at_ms INTEGER, fetched_at TEXT, status INTEGER NOT NULL, bytes INTEGER NOT NULL",
     lambda run, v: (run, v, at_ms(), None, 304, 0)),
    ("status NULL for a 304 (bytes 0 is stored in no bytes already)",
     "at_ms INTEGER, fetched_at TEXT, status INTEGER, bytes INTEGER",
     lambda run, v: (run, v, at_ms(), None, None, 0)),
    ("at_ms and status only (fetched_at and bytes elsewhere)",
     "at_ms INTEGER, status INTEGER",
     lambda run, v: (run, v, at_ms(), None)),
    ("at_ms only (the key and the read time: the floor of one row per service)",
     "at_ms INTEGER",
     lambda run, v: (run, v, at_ms())),
]


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def measure_packed(path, agencies=63):
    """One row per (run, agency): its reads sorted by state id, each as the varint delta of
    the id, the varint read time and a status code byte (304 = 0)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE r (run_id INTEGER NOT NULL, agency INTEGER NOT NULL, reads BLOB "
                 "NOT NULL, PRIMARY KEY (run_id, agency)) WITHOUT ROWID")
    sizes = []
    per = N // agencies
    for run in (1, 2, 3):
        for a in range(agencies):
            ids = range(a * per + 1, (a + 1) * per + 1)
            blob, last = bytearray(), 0
            for v in ids:
                blob += varint(v - last) + varint(at_ms()) + b"\x00"
                last = v
            conn.execute("INSERT INTO r VALUES (?, ?, ?)", (run, a, bytes(blob)))
        conn.commit()
        sizes.append(os.path.getsize(path))
    conn.close()
    return [(b - a) / 1e6 for a, b in zip(sizes, sizes[1:])]


def measure(path, cols, row):
    conn = sqlite3.connect(path)
    conn.execute(TABLE.format(cols=cols))
    sizes = []
    for run in (1, 2, 3):
        ids = list(range(1, N + 1))
        random.shuffle(ids)
        rows = [row(run, v) for v in ids]
        sql = "INSERT INTO r VALUES ({})".format(",".join("?" * len(rows[0])))
        for i in range(0, N, 256):
            conn.executemany(sql, rows[i:i + 256])
            conn.commit()
        sizes.append(os.path.getsize(path))
    conn.close()
    return [(b - a) / 1e6 for a, b in zip(sizes, sizes[1:])]


def main():
    random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, cols, row) in enumerate(LAYOUTS):
            grow = measure(os.path.join(tmp, f"{i}.sqlite"), cols, row)
            print(f"{grow[0]:6.2f} MB, {grow[1]:6.2f} MB a run "
                  f"({grow[1] * 1e6 / N:4.1f} B a row)  {name}")
        grow = measure_packed(os.path.join(tmp, "packed.sqlite"))
        print(f"{grow[0]:6.2f} MB, {grow[1]:6.2f} MB a run "
              f"({grow[1] * 1e6 / N:4.1f} B a read)  one row per (run, agency): the reads "
              "packed as varints (views would read them through a table-valued function)")


if __name__ == "__main__":
    main()
