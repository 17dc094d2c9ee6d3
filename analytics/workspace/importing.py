"""Bringing a log in: stage a file, inspect it, import it with a column mapping (or connect it where it lives)."""

from __future__ import annotations

import os
import shutil
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import xxhash

from analytics import config
from analytics.engines.duckdb import profile_events
from analytics.engines.limits import DISK_PER_INPUT_BYTE, check_free_disk, within_limits
from analytics.errors import (
    FileTooLargeError,
    InvalidParameterError,
    WorkspaceError,
)
from analytics.features.profile import distinct_in_sample
from analytics.features.spec import FeatureParams
from analytics.ingest import cleaning
from analytics.ingest.recognise import copy_stream, open_source
from analytics.ingest.relation import preview
from analytics.ingest.roles import (
    ColumnMapping,
    MappingGuess,
    guess_mapping,
    guess_purchase_event,
    mapping_with,
    stored_attribute_names,
)
from analytics.ingest.source import CHUNK, SourceFile
from analytics.progress import Progress, no_progress, within
from analytics.sql import quote_ident
from analytics.workspace.catalogue import Dataset, clean_name, default_name, display_name, register_dataset
from analytics.workspace.feature_store import check_purchase_event
from analytics.workspace.store import rollback, transaction, utc_now


@dataclass
class StagedFile:
    """A file waiting to be imported, with a copy of it in the workspace's tmp folder.

    A browser upload is written to ``folder`` and read from there; a file staged
    from disk is read where it is, and ``folder`` holds the copy to keep. Only
    uploads are held to the upload size caps (``MARKETLENS_MAX_UPLOAD_MB``,
    ``MARKETLENS_MAX_UNPACKED_MB``); a file on this machine is not an upload.
    """

    path: Path  # what is read
    name: str  # shown only, never used as a path
    size: int
    folder: Path  # tmp/<id>/, removed once imported or discarded
    hashing: Future  # the content hash; for a file from disk, copied and hashed in the background
    uploaded: bool = False  # it came from a browser

    @property
    def content_hash(self) -> str:
        """The file's content hash (waits for the background copy and hash, and raises what they raised)."""
        return self.hashing.result()

    @property
    def limits(self) -> config.Limits:
        """The caps reading this file applies: upload caps, or only width and decompression ratio for a local file."""
        return config.Limits.from_env() if self.uploaded else config.Limits.for_local_file()

    @property
    def kept_copy(self) -> Path:
        """The copy of the file as it arrived, inside :attr:`folder`."""
        return self.folder / "upload"


@dataclass
class Inspection:
    """What the mapping screen shows before import."""

    source: SourceFile
    preview: pd.DataFrame
    guess: MappingGuess
    notes: list[str] = field(default_factory=list)


def check_connect_location(uri: str, *, require_roots: bool = False) -> None:
    """Refuse a location "Connect a large log" may not read on this server.

    Local paths and ``file:`` URIs are resolved (symbolic links and ``..`` included)
    and must lie inside one of ``MARKETLENS_CONNECT_ROOTS``; other schemes
    (``s3a://``, ``hdfs://``, ...) must be listed in ``MARKETLENS_CONNECT_SCHEMES``.
    With no roots set, local paths are allowed unless ``require_roots`` (a server
    with sign-in: connecting is then off until the operator sets roots). The
    message names the setting, never anything read from the location.
    """
    scheme, sep, rest = str(uri).partition("://")
    if sep and scheme.lower() != "file":
        if scheme.lower() not in config.connect_schemes():
            raise InvalidParameterError(
                f"This server does not read '{scheme}://' locations. The administrator can allow it with "
                "MARKETLENS_CONNECT_SCHEMES (e.g. s3a,abfss,gs).")
        return
    local = rest if sep else str(uri).removeprefix("file:")
    roots = config.connect_roots()
    if not roots:
        if require_roots:
            raise InvalidParameterError("Connecting logs by path is off on this server. The administrator can turn it "
                                        "on for some folders with MARKETLENS_CONNECT_ROOTS.")
        return
    target = Path(local).expanduser().resolve()
    if not any(target == r or r in target.parents for r in roots):
        raise InvalidParameterError(f"'{uri}' is outside the folders this server may read "
                                    f"({', '.join(map(str, roots))}); ask the administrator.")


def content_hash_file(path: Path) -> str:
    """Content hash of a file (XXH3-128, read in chunks): how re-uploads are recognised.

    A non-cryptographic hash is enough to tell whether two uploads hold the same
    bytes, and it costs a tenth of SHA-256 on a 600 MB log. One buffer is read
    into again and again (not a memory map: mapped pages would count in the
    process's resident memory, up to the size of the file).
    """
    digest = xxhash.xxh3_128()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buffer):
            digest.update(view[:n])
    return digest.hexdigest()


def _copy_and_hash(path: Path, copy_to: Path | None) -> str:
    if copy_to is not None:
        with within_limits(f"Copying '{path.name}' into the workspace"):
            shutil.copyfile(path, copy_to)
    return content_hash_file(path)


# Staging a file from disk copies and hashes it while the import reads it: the import needs the hash only
# to register the dataset, and a second pass over a big log that is not in the OS cache cost 20 s at 6.9 GB.
_STAGING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="marketlens-stage")


def _finished(value: str) -> Future:
    done: Future = Future()
    done.set_result(value)
    return done


class HashingReader:
    """Wraps a binary stream and hashes what is read through it."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._hash = xxhash.xxh3_128()

    def read(self, n: int = CHUNK) -> bytes:
        data = self._stream.read(n)
        self._hash.update(data)
        return data

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class Importing:
    """Stage, inspect and import files; connect logs where they live."""

    def stage(self, stream: BinaryIO, name: str) -> StagedFile:
        """Copy an upload into tmp/ in chunks, hashing it on the way.

        The stream is read once and never held whole in memory by this function.
        Refused when the uploads already waiting to be imported, plus this one, would
        pass ``MARKETLENS_MAX_STAGED_MB`` (a disk-exhaustion guard for shared servers).
        """
        self.sweep_staged()
        waiting, incoming, cap = self.staged_bytes(), int(getattr(stream, "size", 0) or 0), config.max_staged_bytes()
        if waiting + incoming > cap:
            raise FileTooLargeError(
                f"Uploads waiting to be imported already take {waiting / config.MB:,.0f} MB of the "
                f"{cap / config.MB:,.0f} MB this server allows (MARKETLENS_MAX_STAGED_MB). Import or remove them, "
                "or try again later: uploads never imported are removed after MARKETLENS_STAGED_HOURS.")
        folder = self._new_tmp_folder()
        dst = folder / "upload"
        hasher = HashingReader(stream)
        try:
            size = copy_stream(hasher, dst, name=name)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return StagedFile(path=dst, name=display_name(name), size=size, folder=folder,
                          hashing=_finished(hasher.hexdigest()), uploaded=True)

    def stage_path(self, path: str | Path, name: str | None = None, copy: bool = True) -> StagedFile:
        """Stage a file from disk (CLI, benchmarks, connected logs): a kernel-side copy to keep, and its hash.

        A file on this machine is not an upload: the upload size caps do not apply
        (the decompression-ratio guard does, when it is read). With ``copy``, the
        disk must have room for the copy besides what importing it needs. The copy
        and the hash run in the background; :attr:`StagedFile.content_hash` waits
        for them and raises what they raised (e.g. the disk filled up while copying).
        """
        path = Path(path)
        if not path.is_file():
            raise WorkspaceError(f"There is no file at '{path}'.")
        size = path.stat().st_size
        if copy:
            check_free_disk(self.root, size + int(size * DISK_PER_INPUT_BYTE), f"Importing '{path.name}'")
        folder = self._new_tmp_folder()
        hashing = _STAGING.submit(_copy_and_hash, path, folder / "upload" if copy else None)
        return StagedFile(path=path, name=display_name(name or path.name), size=size, folder=folder,
                          hashing=hashing)

    def inspect(self, staged: StagedFile, encoding: str | None = None) -> Inspection:
        """Sniff the staged file and guess its column mapping (cheap: reads a sample).

        ``encoding`` reads a text file in that encoding (e.g. ``cp1251``) instead of the detected one.
        """
        cur = self.cursor()
        with within_limits(f"Reading '{staged.name}'"):
            src = open_source(staged.path, staged.name, limits=staged.limits, temp_root=staged.folder,
                              encoding=encoding, con=cur)
            try:
                sample = preview(cur, src)
                guess = guess_mapping(sample)
            except BaseException:
                src.cleanup()
                raise
        return Inspection(source=src, preview=sample, guess=guess)

    def import_staged(self, staged: StagedFile, mapping: ColumnMapping | None = None, *, name: str | None = None,
                      allow_bad_rows: bool = False, features: bool = True,
                      progress: Progress | None = None, inspection: Inspection | None = None,
                      keep_original: bool = True) -> Dataset:
        """Clean a staged file into a new dataset (and build its default feature table).

        Parameters
        ----------
        staged : StagedFile
        mapping : ColumnMapping, optional
            Column roles; guessed when omitted.
        name : str, optional
            Dataset name; default: the file name without extension.
        allow_bad_rows : bool
            Import even if some rows have the wrong number of fields.
        features : bool
            Also compute the default per-user feature table.
        progress : callable, optional
            ``progress(fraction, message)`` at each step.
        inspection : Inspection, optional
            Reuse a previous :meth:`inspect` (the mapping screen has one).
        keep_original : bool
            Keep a copy of the file in the workspace (uploads); a connected log
            (:meth:`connect`) stays where it is and only its location is recorded.

        Returns
        -------
        Dataset

        Raises
        ------
        ResourceLimitError
            Too little free disk to start, or memory or disk ran out; nothing is stored then.
        MarketLensError
            Whatever is wrong with the file or mapping; nothing is stored then.
        """
        say = progress or no_progress
        say(0.0, "Recognising the file")
        insp = inspection or self.inspect(staged)
        src = insp.source
        mapping = mapping or insp.guess.mapping
        dataset_id = uuid.uuid4().hex[:12]
        table = f"ev_{dataset_id}"
        cur = self.cursor()
        try:
            check_free_disk(self.root, int(src.path.stat().st_size * DISK_PER_INPUT_BYTE), f"Importing '{staged.name}'")
        except BaseException:
            src.cleanup()
            raise
        with within_limits(f"Importing '{staged.name}'"):
            self._import_rows(cur, staged, src, insp, mapping, dataset_id, table, name, allow_bad_rows,
                              keep_original, say)
        self.discard(staged)
        if features:
            # A transaction of its own: should it fail, the dataset stays usable and
            # the Features page builds the table on demand.
            self.features_table(dataset_id, progress=within(say, 0.9, 1.0))
        return self.get(dataset_id)

    def _import_rows(self, cur, staged: StagedFile, src, insp: Inspection, mapping: ColumnMapping, dataset_id: str,
                     table: str, name: str | None, allow_bad_rows: bool, keep_original: bool, say: Progress) -> None:
        """Load, clean, profile and register one dataset: all of it, or (on any error) none of it."""
        try:
            # Transaction 1 writes the converted rows under a name no listing shows yet;
            # transaction 2 cleans them and registers the dataset. A crash between the
            # two leaves an unregistered table, which the next start drops.
            say(0.05, "Reading and converting rows")
            cur.begin()
            plan, report = cleaning.load(cur, src, mapping, table, sample=insp.preview,
                                         allow_bad_rows=allow_bad_rows)
            cur.commit()
            cur.begin()
            report = cleaning.finish(cur, src, plan, report, table, progress=within(say, 0.5, 0.8))
            say(0.8, "Profiling events")
            # The sample's columns under their names in the events table (an 'amount' attribute is 'amount_attr').
            stored = stored_attribute_names(mapping.attributes)
            profile = profile_events(cur, table, distinct_in_sample(insp.preview.rename(columns=stored),
                                                                    list(stored.values())))
            report.users, report.ts_min, report.ts_max = profile.users, profile.ts_min, profile.ts_max
            purchase = guess_purchase_event(profile.event_counts, profile.amount_counts)
            register_dataset(cur, Dataset(
                id=dataset_id, name=clean_name(name or default_name(staged.name)), source_file=staged.name,
                source_format=src.describe(), content_hash=staged.content_hash, rows=report.rows_kept,
                rows_read=report.rows_read, users=report.users, ts_min=report.ts_min, ts_max=report.ts_max,
                created_at=utc_now(), mapping=mapping, report=report, profile=profile, purchase_event=purchase,
                source_uri=None if keep_original else str(staged.path)))
            if keep_original:
                # Keep the original next to the data before committing; a crash in between
                # leaves an orphan folder that the next start removes.
                keep = self.root / "uploads" / dataset_id
                keep.mkdir(parents=True, exist_ok=True)
                os.replace(staged.kept_copy, keep / "original")
            cur.commit()
        except BaseException:
            rollback(cur)
            cur.execute(f"DROP TABLE IF EXISTS {quote_ident(table)}")
            shutil.rmtree(self.root / "uploads" / dataset_id, ignore_errors=True)
            raise
        finally:
            src.cleanup()

    def import_file(self, path: str | Path, mapping: ColumnMapping | None = None, *, changes: dict | None = None,
                    name: str | None = None, allow_bad_rows: bool = False, features: bool = True,
                    keep_original: bool = True, progress: Progress | None = None,
                    encoding: str | None = None) -> Dataset:
        """Stage, inspect and import a file from disk in one call: the CLI, scripts, connected logs, the sample.

        Parameters
        ----------
        path : path
        mapping : ColumnMapping, optional
            Column roles; default: the guess, with ``changes`` applied.
        changes : dict, optional
            Overrides of the guessed roles (see :func:`analytics.ingest.roles.mapping_with`), e.g.
            ``{"user_id": "customer", "event": None, "event_name": "order"}``.
        keep_original : bool
            Copy the file into the workspace (False: a connected log, read where it is).
        encoding : str, optional
            Text encoding of a text file (e.g. ``cp1251``); default: detected.
        Other parameters: see :meth:`import_staged`.
        """
        staged = self.stage_path(path, copy=keep_original)
        try:
            insp = self.inspect(staged, encoding)
            if mapping is None:
                mapping = mapping_with(insp.source.columns, insp.guess.mapping, **(changes or {}))
            return self.import_staged(staged, mapping, name=name, allow_bad_rows=allow_bad_rows, features=features,
                                      progress=progress, inspection=insp, keep_original=keep_original)
        finally:
            self.discard(staged)

    def discard(self, staged: StagedFile) -> None:
        """Forget a staged file (removes its tmp folder once its background copy is done)."""
        wait([staged.hashing])
        shutil.rmtree(staged.folder, ignore_errors=True)

    def connect(self, uri: str, *, engine: str = "duckdb", master: str | None = None, changes: dict | None = None,
                name: str | None = None, progress: Progress | None = None,
                feature_overrides: dict | None = None, require_roots: bool = False,
                encoding: str | None = None) -> Dataset:
        """Use a large log where it lives, by path or URI, instead of uploading it.

        Parameters
        ----------
        uri : str
            With ``engine="duckdb"``: a local file (read in place, not copied). With
            ``engine="spark"``: a Parquet directory or CSV files, local or any
            Hadoop-compatible URI (``hdfs://``, ``s3a://``, ...).
        engine : {"duckdb", "spark"}
            Spark cleans the events and computes the per-user table on the cluster;
            only that table comes into the workspace.
        master : str, optional
            Spark master (``local[*]``, ``spark://...``, ``sc://...``); default
            ``MARKETLENS_SPARK_MASTER`` or ``local[*]``.
        changes : dict, optional
            Column-role overrides (see :func:`analytics.ingest.roles.mapping_with`).
        feature_overrides : dict, optional
            :class:`FeatureParams` fields for the first feature table (Spark computes it
            while the log is loaded).
        require_roots : bool
            Refuse local paths unless ``MARKETLENS_CONNECT_ROOTS`` is set (servers with sign-in).
        encoding : str, optional
            Text encoding of CSV files; DuckDB detects it when not given, Spark reads UTF-8.
        """
        check_connect_location(uri, require_roots=require_roots)
        if engine == "duckdb":
            return self.import_file(uri, changes=changes, name=name, progress=progress, keep_original=False,
                                    encoding=encoding)
        if engine != "spark":
            raise InvalidParameterError(f"engine must be 'duckdb' or 'spark', got {engine!r}.")
        from analytics.engines import spark

        say = progress or no_progress
        say(0.0, f"Starting Spark ({spark.spark_master(master)})")
        log = spark.load_log(spark.session(master), uri, changes=changes, progress=within(say, 0.05, 0.5),
                             encoding=encoding)
        try:
            purchase = guess_purchase_event(log.profile.event_counts, log.profile.amount_counts)
            params = FeatureParams(**{"purchase_event": purchase, **(feature_overrides or {})})
            check_purchase_event(params.purchase_event, log.profile)
            dataset_id = uuid.uuid4().hex[:12]
            ds = Dataset(id=dataset_id, name=clean_name(name or default_name(uri.rstrip("/"))),
                         source_file=uri.rstrip("/").rsplit("/", 1)[-1] or uri, source_format="Spark: " + uri,
                         content_hash="", rows=log.report.rows_kept, rows_read=log.report.rows_read,
                         users=log.report.users, ts_min=log.report.ts_min, ts_max=log.report.ts_max,
                         created_at=utc_now(), mapping=log.mapping, report=log.report, profile=log.profile,
                         purchase_event=purchase, engine="spark", source_uri=uri,
                         spark_master=spark.spark_master(master))
            say(0.5, "Computing the per-user feature table on Spark")
            cur = self.cursor()
            with transaction(cur):
                register_dataset(cur, ds)
                self._store_spark_features(cur, log, ds, params)
        finally:
            log.release()
        return self.get(dataset_id)
