"""Go's text/tabwriter, the part kubectl uses: cells end with a tab, columns are aligned per block.

A column block is a run of consecutive lines that all have a cell in that column; a line
with no tab ends every block (Go flushes there). A cell is padded to the widest cell of its
block plus ``padding`` (at least ``minwidth``); the last cell of a line is never padded.
"""

from __future__ import annotations

# kubectl get: cli-runtime printers.GetNewTabWriter (minwidth 6, padding 3).
TABLE_MINWIDTH, TABLE_PADDING = 6, 3
# kubectl describe: tabbedString (minwidth 0, padding 2).
DESCRIBE_MINWIDTH, DESCRIBE_PADDING = 0, 2


def tabwrite(text: str, *, minwidth: int, padding: int) -> str:
    """Align tab-separated ``text`` the way Go's tabwriter with a space pad character does."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    _format(lines, [], 0, len(lines), out, minwidth, padding)
    return "".join(out)


def _format(
    lines: list[list[str]], widths: list[int], line0: int, line1: int, out: list[str], minwidth: int, padding: int
) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        if column >= len(lines[this]) - 1:  # no cell in this column: not part of a block
            this += 1
            continue
        _write_lines(lines, widths, line0, this, out)
        line0 = this
        width = minwidth
        while this < line1 and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + padding)
            this += 1
        _format(lines, widths + [width], line0, this, out, minwidth, padding)
        line0 = this
    _write_lines(lines, widths, line0, line1, out)


def _write_lines(lines: list[list[str]], widths: list[int], line0: int, line1: int, out: list[str]) -> None:
    for i in range(line0, line1):
        for j, cell in enumerate(lines[i]):
            out.append(cell)
            if j < len(widths):
                out.append(" " * (widths[j] - len(cell)))
        if i + 1 < len(lines):  # the last buffered line has no newline of its own
            out.append("\n")
