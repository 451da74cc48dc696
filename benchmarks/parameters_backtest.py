"""Regenerate the parameter and back-test tables of docs/parameters.md.

    python benchmarks/parameters_backtest.py [--write] [--fcoc PATH]

Reads the Fair Cost of Care 2022 medians (../shared/data/fees/fcoc_2022_extracted_medians.csv),
prints the generated sections (market.backtest) and, with --write, replaces them in
docs/parameters.md between their markers. tests/test_parameter_backtest.py fails when the
document and this output differ.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from market.backtest import markdown, parameter_table  # noqa: E402

DOC = ROOT / "docs" / "parameters.md"
FCOC = ROOT.parent / "shared" / "data" / "fees" / "fcoc_2022_extracted_medians.csv"



def sections(fcoc: Path) -> dict[str, str]:
    return {"parameters": parameter_table(), "backtest": markdown(pd.read_csv(fcoc))}


def replaced(text: str, blocks: dict[str, str]) -> str:
    """`text` with each `<!-- begin NAME -->...<!-- end NAME -->` block set to blocks[NAME]."""
    for name, body in blocks.items():
        begin, end = f"<!-- begin {name} (benchmarks/parameters_backtest.py) -->", \
            f"<!-- end {name} -->"
        i, j = text.find(begin), text.find(end)
        if i < 0 or j < i:
            raise SystemExit(f"{DOC}: no '{begin}' ... '{end}' block")
        text = text[:i + len(begin)] + "\n" + body + text[j:]
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"rewrite the blocks in {DOC.name}")
    ap.add_argument("--fcoc", type=Path, default=FCOC)
    args = ap.parse_args()
    blocks = sections(args.fcoc)
    if args.write:
        DOC.write_text(replaced(DOC.read_text(), blocks))
        print(f"wrote {DOC}")
    else:
        for body in blocks.values():
            print(body)


if __name__ == "__main__":
    main()
