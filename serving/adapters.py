"""The adapter set on disk: K shard adapters, the validation index, and a manifest; never half-written.

Layout under ``$STREAMREC_DATA_DIR/adapters/``::

    CURRENT                 the served version's name (replaced atomically)
    v0001/manifest.json     version, base model, partition, per-shard hashes, rule, conditions
    v0001/shard-0.safetensors ... shard-<K-1>.safetensors
    v0001/partition.npz     semantic centroids (absent for a random partition)
    v0001/validation.npz    the validation index (salted user keys, vectors, predictions)
    v0001/items.npz         base-LLM item vectors (context vectors for the APA weights)
    v0001/training.png      loss and validation-AUC curves per shard (for people, not hashed)
    v0001/members.parquet   salted user key -> shard, for every user with samples in the set
    v0001/data_cut.json     the watermark and summary versions it was trained on
    v0001/catalog.parquet   the catalog it was trained on

**Atomic publication.** A set is written into a hidden temporary directory, every file is
fsynced, and the directory is renamed into place; only then does ``CURRENT`` move (write a
temporary file, fsync, ``os.replace``). A reader therefore sees either the old set or the
complete new one, and a crash mid-write leaves only a temporary directory that
:func:`remove_partial_sets` clears. Unchanged shard files are hard-linked from the previous
version, so they keep their bytes and their sha256.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from models.fingerprint import file_sha256

__all__ = [
    "CURRENT",
    "MANIFEST",
    "AdapterSetFiles",
    "adapters_root",
    "file_sha256",
    "list_versions",
    "next_version",
    "read_current",
    "read_manifest",
    "read_item_vectors",
    "read_validation",
    "remove_partial_sets",
    "save_npz",
    "set_current",
    "shard_file",
    "purged_before",
    "purged_holders",
    "remove_version",
    "read_members",
    "shards_holding",
    "shards_of",
    "write_adapter_set",
]

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
_VERSION = re.compile(r"^v(\d{4,})$")
FORMAT = 1
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the zip format's earliest time


def adapters_root(data_dir: Path) -> Path:
    return data_dir / "adapters"


def shard_file(shard: int) -> str:
    return f"shard-{shard}.safetensors"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def list_versions(root: Path) -> list[str]:
    """Complete versions, oldest first (temporary directories are not versions)."""
    if not root.is_dir():
        return []
    found = [
        p.name for p in root.iterdir() if p.is_dir() and _VERSION.match(p.name) and (p / MANIFEST).is_file()
    ]
    return sorted(found, key=lambda v: int(v[1:]))


def next_version(root: Path) -> str:
    versions = list_versions(root)
    number = int(versions[-1][1:]) + 1 if versions else 1
    return f"v{number:04d}"


def read_current(root: Path) -> str | None:
    """The served version, or None when there is none (serve the zero-shot base model)."""
    try:
        version = (root / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return version if version and (root / version / MANIFEST).is_file() else None


def set_current(root: Path, version: str) -> None:
    """Point ``CURRENT`` at a complete version, atomically."""
    if not (root / version / MANIFEST).is_file():
        raise FileNotFoundError(f"adapter set {version} is not complete under {root}")
    tmp = root / f".{CURRENT}.{uuid.uuid4().hex}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(version + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, root / CURRENT)
    _fsync_dir(root)


def read_manifest(root: Path, version: str) -> dict[str, Any]:
    with open(root / version / MANIFEST, encoding="utf-8") as f:
        manifest: dict[str, Any] = json.load(f)
    if manifest.get("format") != FORMAT:
        raise ValueError(f"adapter set {version}: unknown manifest format {manifest.get('format')!r}")
    return manifest


def remove_partial_sets(root: Path) -> list[str]:
    """Delete temporary directories a crashed writer left behind; returns their names."""
    if not root.is_dir():
        return []
    removed = []
    for path in root.iterdir():
        if path.is_dir() and path.name.startswith(".tmp-"):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


@dataclass(frozen=True)
class AdapterSetFiles:
    """What a new version consists of. ``shard_sources[k]`` is a finished safetensors file to
    move in, or a previous version's file to hard-link (an unchanged shard)."""

    shard_sources: Sequence[Path]
    validation: Mapping[str, npt.NDArray[Any]]
    item_ids: Sequence[str]
    item_vectors: npt.NDArray[np.float32]
    centroids: npt.NDArray[np.float64] | None
    extras: Mapping[str, Path] = field(default_factory=dict)  # name in the set -> file to copy in


def save_npz(path: Path, arrays: Mapping[str, npt.NDArray[Any]]) -> None:
    """An ``.npz`` that ``np.load`` reads, with equal bytes for equal arrays.

    ``np.savez`` stamps every zip entry with the current time, so two identical trainings
    would give files with different sha256; a fixed entry time makes the bytes a function of
    the arrays alone, which is what verifying a retrain byte for byte needs.
    """
    with open(path, "wb") as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for name, array in sorted(arrays.items()):
                entry = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
                with archive.open(entry, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


def write_adapter_set(
    root: Path, files: AdapterSetFiles, manifest: dict[str, Any], *, make_current: bool = True
) -> str:
    """Write a new version atomically and (by default) make it current; returns its name.

    ``manifest`` gets ``format``, ``version`` and each shard's ``file`` and ``sha256`` filled in.
    """
    root.mkdir(parents=True, exist_ok=True)
    version = next_version(root)
    tmp = root / f".tmp-{version}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        shards = list(manifest.get("shards", []))
        if len(shards) != len(files.shard_sources):
            raise ValueError(f"manifest lists {len(shards)} shards, {len(files.shard_sources)} files given")
        for k, source in enumerate(files.shard_sources):
            target = tmp / shard_file(k)
            if source.parent.parent == root:  # a file of a published version: keep its bytes
                os.link(source, target)
            else:
                shutil.copyfile(source, target)
                with open(target, "rb+") as f:
                    os.fsync(f.fileno())
            shards[k] = {**shards[k], "file": target.name, "sha256": file_sha256(target)}
        save_npz(tmp / "validation.npz", files.validation)
        save_npz(
            tmp / "items.npz",
            {"item_ids": np.asarray(list(files.item_ids), dtype=np.str_), "vectors": files.item_vectors},
        )
        if files.centroids is not None:
            save_npz(tmp / "partition.npz", {"centroids": files.centroids})
        for name, source in sorted(files.extras.items()):
            if Path(name).name != name or name == MANIFEST or (tmp / name).exists():
                raise ValueError(f"extra file name {name!r} is not a new plain file name in the set")
            shutil.copyfile(source, tmp / name)
            with open(tmp / name, "rb+") as f:
                os.fsync(f.fileno())
        complete = {**manifest, "format": FORMAT, "version": version, "shards": shards}
        with open(tmp / MANIFEST, "w", encoding="utf-8") as f:
            json.dump(complete, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(tmp)
        os.rename(tmp, root / version)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if make_current:
        set_current(root, version)
    return version


def read_validation(root: Path, version: str) -> dict[str, npt.NDArray[Any]]:
    with np.load(root / version / "validation.npz", allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def read_members(root: Path, version: str) -> dict[str, tuple[int, ...]] | None:
    """Salted user key -> the shards of ``version`` holding their samples; None if unrecorded."""
    members = root / version / "members.parquet"
    if not members.exists():
        return None
    import pyarrow.parquet as pq

    found: dict[str, set[int]] = {}
    for row in pq.read_table(members, columns=["user_key", "shard"]).to_pylist():
        found.setdefault(str(row["user_key"]), set()).add(int(row["shard"]))
    return {key: tuple(sorted(shards)) for key, shards in found.items()}


def shards_of(root: Path, version: str, user_key: str) -> tuple[int, ...]:
    """The shards of ``version`` holding samples of ``user_key``.

    A set written before ``members.parquet`` existed cannot say, so every shard counts as
    holding the user: excluding too much is safe, serving deleted data is not.
    """
    members = read_members(root, version)
    if members is None:
        return tuple(range(len(read_manifest(root, version)["shards"])))
    return members.get(user_key, ())


def shards_holding(root: Path, user_key: str) -> tuple[str, tuple[int, ...]] | None:
    """The current set and its shards holding samples of ``user_key``; None without a set."""
    version = read_current(root)
    return None if version is None else (version, shards_of(root, version, user_key))


def purged_before(root: Path, version: str) -> frozenset[str] | None:
    """Deletion requests already purged when ``version``'s training data was exported.

    Their data cannot be in the set; a request purged later may be. None when the set does
    not record it (every purged request may then be in it).
    """
    try:
        cut = json.loads((root / version / "data_cut.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return frozenset(str(r) for r in cut.get("purged_requests", ()))


def purged_holders(
    root: Path, version: str, purged: Sequence[tuple[str, str]]
) -> list[tuple[str, tuple[int, ...]]]:
    """(request id, shards) for each purged ``(request id, salted user key)`` that ``version``
    may still hold: purged after its export, and the user is among its members (every shard
    counts for a set that does not record members)."""
    known = purged_before(root, version)
    members = read_members(root, version)
    every = tuple(range(len(read_manifest(root, version)["shards"])))
    out = []
    for request_id, user_key in purged:
        if known is not None and request_id in known:
            continue
        shards = every if members is None else members.get(user_key, ())
        if shards:
            out.append((request_id, shards))
    return out


def remove_version(root: Path, version: str) -> None:
    """Delete a published, non-current set. It is renamed away first, so it vanishes at once
    and a crash mid-delete leaves only a temporary directory (``remove_partial_sets``)."""
    if read_current(root) == version:
        raise ValueError(f"{version} is the current set; publish another one first")
    doomed = root / f".tmp-deleted-{version}-{uuid.uuid4().hex[:8]}"
    os.rename(root / version, doomed)
    _fsync_dir(root)
    shutil.rmtree(doomed, ignore_errors=True)


def read_item_vectors(root: Path, version: str) -> dict[str, npt.NDArray[np.float64]]:
    with np.load(root / version / "items.npz", allow_pickle=False) as data:
        ids, vectors = data["item_ids"], data["vectors"].astype(np.float64)
    return {str(item): vectors[k] for k, item in enumerate(ids)}
