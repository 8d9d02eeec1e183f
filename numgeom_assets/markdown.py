"""Small renderers for Dagster metadata: Markdown tables and inline PNG images."""

import base64
from pathlib import Path

import polars as pl


def markdown_table(table: pl.DataFrame, float_digits: int = 4) -> str:
    """Render a polars table as a Markdown table; floats rounded, nulls shown as 'n/a'."""
    header = "| " + " | ".join(table.columns) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    lines = [header, rule]
    for row in table.iter_rows():
        lines.append("| " + " | ".join(_cell(value, float_digits) for value in row) + " |")
    return "\n".join(lines)


def markdown_image(path: Path, alt: str) -> str:
    """Embed a PNG file in Markdown as a data URI, so the Dagster UI shows it inline."""
    encoded = base64.b64encode(Path(path).read_bytes()).decode()
    return f"![{alt}](data:image/png;base64,{encoded})"


def _cell(value: object, float_digits: int) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{float_digits}f}"
    return str(value).replace("|", "\\|")
