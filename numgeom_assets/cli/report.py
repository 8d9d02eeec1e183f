"""`numgeom report`: where the latest geometry report is, and optionally the page itself."""

import argparse
from pathlib import Path

from numgeom_core.errors import NumgeomError


def add_commands(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report", help="print the path and claim verdicts of the latest geometry report"
    )
    report.add_argument(
        "--print", action="store_true", dest="print_page", help="also print the Markdown page"
    )
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from numgeom_assets import paths
    from numgeom_assets.io_manager import read_stored

    try:
        record = read_stored(paths.storage_dir(), "geometry_report")
    except FileNotFoundError as error:
        raise NumgeomError(
            f"No geometry report in {paths.storage_dir()} yet. Materialise geometry_report "
            "(it needs metrics_summary and evaluation_metrics), then run this again."
        ) from error
    page = Path(record["path"])
    if not page.is_file():
        raise NumgeomError(
            f"The report record points to {page}, which does not exist. Materialise "
            "geometry_report again."
        )
    print(f"Report: {page} (created {record.get('created', 'unknown')})")
    for claim_id, verdict in sorted(record.get("verdicts", {}).items()):
        print(f"Claim {claim_id}: {verdict}")
    if args.print_page:
        print()
        print(page.read_text())
    return 0
