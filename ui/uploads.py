"""The life of an upload in one browser session: staged when it arrives, inspected, imported or discarded.

Streamlit hands over the uploaded file on every rerun; it is staged (written to
the workspace's tmp folder) once per file, and the staged copy is discarded when
the user removes the file, uploads another, or imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import streamlit as st

from analytics import config
from analytics.errors import InvalidParameterError, RaggedRowsError
from analytics.ingest.encoding import ENCODING_LABELS, EncodingGuess
from analytics.ingest.roles import mapping_with
from analytics.workspace import Dataset, Inspection, StagedFile
from ui import auth, state

_STAGED = "staged_upload"
_RAGGED = "ragged_rows"
_ROUND = "uploader_round"
SAMPLE = Path(__file__).resolve().parent.parent / "sample_data" / "sample_events.csv.gz"
SOCIAL_SAMPLE = SAMPLE.with_name("social_events.csv.gz")
SAMPLES = {"shop": (SAMPLE, "Sample shop"), "social": (SOCIAL_SAMPLE, "Sample social")}

AUTO = "auto"
ENCODINGS = [AUTO, *ENCODING_LABELS]  # the choices of the encoding select box, detected first


@dataclass
class Upload:
    """A staged upload and what inspecting it found."""

    file_id: str
    staged: StagedFile
    inspection: Inspection
    detected: EncodingGuess | None = None  # what detection chose (text files), whatever is chosen now
    encoding: str = AUTO  # the encoding the inspection was made with

    @property
    def default_name(self) -> str:
        return Path(self.staged.name).name.split(".")[0] or "dataset"

    @property
    def is_text(self) -> bool:
        return self.inspection.source.kind == "csv"

    def encoding_option(self, code: str) -> str:
        """Label of an entry of :data:`ENCODINGS` in the select box; the first says what was detected."""
        if code != AUTO:
            return ENCODING_LABELS.get(code, code)
        if self.detected is None:
            return "As detected"
        if self.detected.how == "detected":
            return f"As detected: {self.detected.label} ({self.detected.confidence:.0%} confidence)"
        return f"As detected: {self.detected.label}"


@dataclass
class RaggedRows:
    """The import stopped because some rows have the wrong number of fields."""

    message: str
    n_bad: int
    examples: list[dict]


def uploader_key() -> str:
    """Key of the file uploader; it changes after an import, which empties the uploader."""
    return f"uploader_{st.session_state.get(_ROUND, 0)}"


def current(uploaded) -> Upload | None:
    """The staged upload for what the uploader holds: staged and inspected once per file, discarded after."""
    ws = state.workspace()
    entry: Upload | None = st.session_state.get(_STAGED)
    if entry is not None and uploaded is not None and entry.file_id == uploaded.file_id \
            and not entry.staged.folder.exists():
        st.session_state.pop(_STAGED, None)  # swept after MARKETLENS_STAGED_HOURS
        st.session_state[_ROUND] = st.session_state.get(_ROUND, 0) + 1
        raise InvalidParameterError("This upload waited too long and was removed from the server. "
                                    "Upload the file again.")
    if entry is not None and (uploaded is None or entry.file_id != uploaded.file_id):
        ws.discard(entry.staged)
        st.session_state.pop(_STAGED, None)
        st.session_state.pop(_RAGGED, None)
        entry = None
    if uploaded is None or entry is not None:
        return entry
    _reset_form()  # a new file starts from its own guess and name, never the previous file's choices
    staged = ws.stage(uploaded, uploaded.name)
    try:
        inspection = ws.inspect(staged)
    except BaseException:
        ws.discard(staged)
        raise
    entry = Upload(uploaded.file_id, staged, inspection, detected=inspection.source.encoding_guess)
    st.session_state[_STAGED] = entry
    return entry


# Widgets of the mapping form on the Data page; their values belong to one uploaded file.
FORM_KEYS = ("ds_name", "event_name", "date_order", "allow_bad_rows", "import_again")
FORM_PREFIXES = ("role_", "attributes_")


def _reset_form() -> None:
    for key in list(st.session_state):
        if key in FORM_KEYS or str(key).startswith(FORM_PREFIXES):
            del st.session_state[key]
    st.session_state.pop(_RAGGED, None)


def with_encoding(upload: Upload, encoding: str) -> Upload:
    """The upload read in ``encoding`` (a code of :data:`ENCODINGS`): inspected again when it changes.

    Raises
    ------
    InvalidParameterError
        When the file cannot be read in that encoding; the upload stays as it was.
    """
    if encoding == upload.encoding or not upload.is_text:
        return upload
    inspection = state.workspace().inspect(upload.staged, None if encoding == AUTO else encoding)
    upload.inspection.source.cleanup()
    entry = replace(upload, inspection=inspection, encoding=encoding)
    st.session_state[_STAGED] = entry
    st.session_state.pop(_RAGGED, None)
    return entry


def duplicate_of(upload: Upload) -> Dataset | None:
    """The dataset already imported from exactly these bytes, if any."""
    return state.workspace().find_by_content(upload.staged.content_hash)


def ragged_rows() -> RaggedRows | None:
    """Why the last import attempt of this upload stopped, if it did for malformed rows."""
    return st.session_state.get(_RAGGED)


def import_upload(upload: Upload, roles: dict, *, attributes: list[str], event_name: str, date_order: str,
                  name: str, allow_bad_rows: bool, progress: Callable[[float, str], None],
                  timezone: str = "UTC") -> Dataset | None:
    """Import the staged upload with the user's mapping; None when it stopped to ask about malformed rows."""
    ws = state.workspace()
    mapping = mapping_with(upload.inspection.source.columns, upload.inspection.guess.mapping, attributes=attributes,
                           event_name=event_name, date_order=date_order, timezone=timezone, **roles)
    try:
        ds = ws.import_staged(upload.staged, mapping, name=name, allow_bad_rows=allow_bad_rows,
                              inspection=upload.inspection, progress=progress)
    except RaggedRowsError as exc:
        st.session_state[_RAGGED] = RaggedRows(str(exc), exc.n_bad, exc.examples)
        return None
    st.session_state.pop(_STAGED, None)
    st.session_state.pop(_RAGGED, None)
    st.session_state[_ROUND] = st.session_state.get(_ROUND, 0) + 1
    _imported(ds)
    return ds


def import_sample(progress: Callable[[float, str], None], which: str = "shop") -> Dataset:
    """Import a committed sample: the shop log (``shop``) or the social log (``social``)."""
    path, name = SAMPLES[which]
    ds = state.workspace().import_file(path, name=name, progress=progress)
    _imported(ds)
    return ds


def spark_masters() -> list[str]:
    """The Spark masters the operator configured; users pick one, they never type a master."""
    return config.spark_masters()


def connect(uri: str, engine: str, master: str | None, name: str | None,
            progress: Callable[[float, str], None], timezone: str = "UTC") -> Dataset:
    """Connect a large log where it lives (DuckDB reads it in place, or Spark on a configured master).

    ``timezone`` is the zone of its times without an offset (roles are guessed: there is no mapping step).

    On a server with sign-in, local paths are refused unless the operator set
    ``MARKETLENS_CONNECT_ROOTS``.
    """
    if engine == "spark" and master not in spark_masters():
        raise InvalidParameterError(f"'{master}' is not one of the Spark masters this server may use "
                                    f"({', '.join(spark_masters())}); the administrator sets them with "
                                    "MARKETLENS_SPARK_MASTER and MARKETLENS_SPARK_MASTERS.")
    ds = state.workspace().connect(uri, engine=engine, master=master, name=name, progress=progress,
                                   require_roots=auth.auth_configured(), changes={"timezone": timezone})
    _imported(ds)
    return ds


def _imported(ds: Dataset) -> None:
    state.set_active_dataset(ds.id)
    st.session_state[state.LAST_IMPORT] = ds.id
