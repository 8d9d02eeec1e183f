"""`numgeom backbone add|remove|list`: manage registered backbones and their partitions."""

import argparse
import os
from pathlib import Path

from numgeom_assets import paths
from numgeom_assets.partitions import BACKBONE
from numgeom_core.errors import BackboneError, NumgeomError

SOURCE_TYPES = ("directory", "gguf", "package", "hub")


def add_commands(commands: argparse._SubParsersAction) -> None:
    backbone = commands.add_parser("backbone", help="register, remove or list backbones")
    actions = backbone.add_subparsers(required=True, metavar="ACTION")

    add = actions.add_parser("add", help="register a backbone and add its partition")
    add.add_argument("name", help="new backbone name: letters, digits, '.', '_' and '-'")
    add.add_argument(
        "--source",
        required=True,
        help="model folder, .gguf file, Python package name or hub id (org/model)",
    )
    add.add_argument(
        "--source-type",
        choices=SOURCE_TYPES,
        help="kind of source (default: directory for a folder, gguf for a .gguf file)",
    )
    add.add_argument("--kind", choices=("encoder", "llm"), help="default: from the architecture")
    add.add_argument("--pooling", choices=("mean", "cls", "last"), help="default: per kind")
    add.add_argument(
        "--lora-targets", help="comma-separated module names (default: from the architecture)"
    )
    add.add_argument("--subfolder", help="folder inside a package that contains config.json")
    add.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow the model's own Python code to run (read it first)",
    )
    add.add_argument("--quantized-from", help="quantisation the weights were dequantised from")
    add.add_argument("--description", default="", help="one line shown in listings")
    add.set_defaults(handler=_add)

    remove = actions.add_parser("remove", help="unregister a backbone and drop its partition")
    remove.add_argument("name")
    remove.set_defaults(handler=_remove)

    listing = actions.add_parser("list", help="list registered backbones and their availability")
    listing.set_defaults(handler=_list)


def _add(args: argparse.Namespace) -> int:
    from numgeom_assets.registry import add_backbone, registry_path
    from numgeom_core.models import check_available
    from numgeom_core.models.architectures import spec_from_source

    source_type = args.source_type or _guess_source_type(args.source)
    source = args.source
    if source_type in ("directory", "gguf") and ":" not in source:
        source = str(Path(source).expanduser().resolve())
    targets = tuple(t.strip() for t in args.lora_targets.split(",")) if args.lora_targets else None
    spec = spec_from_source(
        args.name,
        source_type,
        source,
        kind=args.kind,
        pooling=args.pooling,
        lora_targets=targets,
        subfolder=args.subfolder,
        trust_remote_code=args.trust_remote_code,
        quantized_from=args.quantized_from,
        description=args.description,
    )
    if source_type != "hub":
        check_available(spec)
    add_backbone(spec)

    instance = _instance()
    if not instance.has_dynamic_partition(BACKBONE, spec.name):
        instance.add_dynamic_partitions(BACKBONE, [spec.name])
    print(
        f"Registered {spec.name} ({spec.kind}, pooling {spec.pooling}, LoRA targets "
        f"{','.join(spec.lora_targets)}) in {registry_path()} and added its partition.\n"
        f"Materialise it with: numgeom backfill {spec.name}"
    )
    return 0


def _remove(args: argparse.Namespace) -> int:
    from numgeom_assets.registry import remove_backbone

    spec = remove_backbone(args.name)
    instance = _instance()
    if instance.has_dynamic_partition(BACKBONE, spec.name):
        instance.delete_dynamic_partition(BACKBONE, spec.name)
    print(
        f"Removed {spec.name} and its partition. Its stored results are kept: files under "
        f"{paths.storage_dir()}, Dagster's materialisation history and its MLflow runs. "
        "The next metrics_summary leaves it out."
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    from numgeom_assets.registry import registered_backbones
    from numgeom_core.models import check_available

    instance = _instance()
    for name, spec in registered_backbones().items():
        try:
            check_available(spec)
            status = "available"
        except NumgeomError as error:
            status = f"unavailable: {error}"
        partition = "partition" if instance.has_dynamic_partition(BACKBONE, name) else "         "
        default = "default" if spec.default else "       "
        print(f"{name:<24} {spec.kind:<8} {default} {partition} {spec.source_type}:{spec.source}")
        print(f"{'':<24} {status}")
    return 0


def _guess_source_type(source: str) -> str:
    if source.endswith(".gguf"):
        return "gguf"
    if Path(source).expanduser().exists():
        return "directory"
    raise BackboneError(
        f"Model source {source!r} not found: it is not an existing folder or a .gguf file. "
        f"Check the path, or pass --source-type ({', '.join(SOURCE_TYPES)}) for a package "
        "or hub id."
    )


def _instance():
    os.environ.setdefault("DAGSTER_HOME", str(paths.dagster_home()))
    import dagster as dg

    return dg.DagsterInstance.get()
