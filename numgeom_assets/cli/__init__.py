"""The `numgeom` command line: run the main job, manage backbones, compare runs."""

import argparse
import logging
import sys
from collections.abc import Sequence

from numgeom_assets.cli import backbone, compare, report, run
from numgeom_core.errors import NumgeomError


def main(argv: Sequence[str] | None = None) -> int:
    """Run a `numgeom` subcommand and return its exit status."""
    parser = argparse.ArgumentParser(prog="numgeom", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    run.add_commands(commands)
    backbone.add_commands(commands)
    compare.add_commands(commands)
    report.add_commands(commands)
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.handler(args)
    except NumgeomError as error:
        print(f"numgeom: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
