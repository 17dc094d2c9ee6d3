"""Which text encoding a file is in: byte-order marks, UTF-8, UTF-16, then charset-normalizer.

Exports from Windows tools come in the code page of the machine that wrote
them (Windows-1251 in Russia, Shift_JIS in Japan, GB18030 in China, Windows-1252
in Western Europe and the Americas). Reading one as another imports garbled
names without any error, so the encoding is decided here from the bytes,
shown to the user with how sure the decision is, and can be overridden.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from analytics.errors import InvalidParameterError, UnsupportedFileError

# Encodings offered in the mapping step, in the order shown (codec name -> label).
ENCODING_LABELS: dict[str, str] = {
    "utf-8": "UTF-8",
    "utf-16": "UTF-16",
    "cp1252": "Windows-1252 (Western European)",
    "iso8859-1": "ISO-8859-1 (Latin-1)",
    "iso8859-15": "ISO-8859-15 (Latin-9)",
    "cp1250": "Windows-1250 (Central European)",
    "iso8859-2": "ISO-8859-2 (Central European)",
    "cp1251": "Windows-1251 (Cyrillic)",
    "koi8-r": "KOI8-R (Russian)",
    "koi8-u": "KOI8-U (Ukrainian)",
    "cp1253": "Windows-1253 (Greek)",
    "cp1254": "Windows-1254 (Turkish)",
    "cp1255": "Windows-1255 (Hebrew)",
    "cp1256": "Windows-1256 (Arabic)",
    "cp1257": "Windows-1257 (Baltic)",
    "cp1258": "Windows-1258 (Vietnamese)",
    "cp874": "Windows-874 (Thai)",
    "cp932": "Shift_JIS (Japanese, Windows)",
    "shift_jis": "Shift_JIS (Japanese, strict)",
    "euc_jp": "EUC-JP (Japanese)",
    "gb18030": "GB18030 / GBK (Simplified Chinese)",
    "big5": "Big5 (Traditional Chinese)",
    "cp949": "CP949 / EUC-KR (Korean)",
}

_OTHER_LABELS = {"utf-8-sig": "UTF-8 with BOM", "utf-16-le": "UTF-16 LE", "utf-16-be": "UTF-16 BE",
                 "mac-cyrillic": "Mac Cyrillic", "mac-roman": "Mac Roman"}

# What charset-normalizer may choose from: the code pages exports are written in.
_CANDIDATES = ["cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258", "cp874",
               "koi8_r", "koi8_u", "iso8859_2", "iso8859_5", "iso8859_7", "iso8859_15", "latin_1", "mac_cyrillic",
               "cp932", "euc_jp", "gb18030", "big5", "cp949"]

# Single-byte Latin code pages: they decode the same bytes to different accented letters, and the
# detector cannot reliably tell them apart on names and cities. Windows-1252 is by far the most
# common, so it wins unless it reads clearly worse.
_LATIN = {"cp1252", "cp1250", "cp1254", "cp1257", "cp1258", "iso8859-1", "iso8859-2", "iso8859-4", "iso8859-9",
          "iso8859-10", "iso8859-13", "iso8859-14", "iso8859-15", "iso8859-16", "mac-latin2", "mac-roman"}

_WESTERN_MARGIN = 0.1  # how much more "mess" Windows-1252 may show and still win among Latin code pages

_EVIDENCE_BYTES = 24  # non-ASCII bytes needed before a detection counts as fully informed

_DETECT_BYTES = 64 * 1024  # of non-ASCII lines handed to the detector (it is slow on megabytes)

_HIGH_BYTES = bytes(range(128, 256))

UNCERTAIN = 0.6  # below this confidence the user is told to check the encoding


@dataclass(frozen=True)
class EncodingGuess:
    """The encoding a text file is read with, and why.

    Attributes
    ----------
    encoding : str
        Python codec name (``utf-8``, ``utf-8-sig``, ``cp1251``, ``cp932``, ``gb18030``, ...).
    confidence : float
        0..1: 1 for a byte-order mark, valid UTF-8 or the user's choice; for a
        detection, charset-normalizer's coherence of the decoded text, lowered
        when the file holds little non-ASCII text to go on.
    how : {"bom", "utf-8", "utf-16", "detected", "fallback", "chosen"}
    non_ascii : int
        Non-ASCII bytes in the sample the decision was made on.
    """

    encoding: str
    confidence: float = 1.0
    how: str = "utf-8"
    non_ascii: int = 0

    @property
    def label(self) -> str:
        return encoding_label(self.encoding)

    @property
    def uncertain(self) -> bool:
        return self.how in ("detected", "fallback") and self.confidence < UNCERTAIN

    def describe(self) -> str:
        """'Windows-1251 (Cyrillic), detected with 97% confidence' (or why it is certain)."""
        if self.how == "chosen":
            return f"{self.label}, as you chose"
        if self.how == "bom":
            return f"{self.label} (byte-order mark)"
        if self.how in ("utf-8", "utf-16"):
            return self.label
        text = f"{self.label}, detected with {self.confidence:.0%} confidence"
        if self.how == "fallback":
            text = f"{self.label}, assumed ({self.confidence:.0%} confidence: no encoding reads the text cleanly)"
        if self.non_ascii < _EVIDENCE_BYTES:
            text += f" (only {self.non_ascii} non-ASCII byte{'s' if self.non_ascii != 1 else ''} to go on)"
        return text

    def to_dict(self) -> dict:
        return {"encoding": self.encoding, "label": self.label, "confidence": round(self.confidence, 3),
                "how": self.how}


def encoding_label(encoding: str) -> str:
    """A readable name for a codec: 'Windows-1251 (Cyrillic)'; unknown codecs keep their name in capitals."""
    name = canonical_encoding(encoding, strict=False)
    return ENCODING_LABELS.get(name) or _OTHER_LABELS.get(name) or name.upper()


def canonical_encoding(encoding: str, strict: bool = True) -> str:
    """Python's canonical name of a codec (``windows-1251`` -> ``cp1251``, ``latin-1`` -> ``iso8859-1``).

    Raises
    ------
    InvalidParameterError
        With ``strict``, when Python knows no such text encoding.
    """
    try:
        info = codecs.lookup(str(encoding).strip())
    except LookupError as exc:
        if not strict:
            return str(encoding).lower()
        shown = ", ".join(list(ENCODING_LABELS)[:8])
        raise InvalidParameterError(f"Unknown text encoding {encoding!r}. Use a name such as {shown}, ... "
                                    "or 'auto' to detect it.") from exc
    if not getattr(info, "_is_text_encoding", True):
        if strict:
            raise InvalidParameterError(f"{encoding!r} is not a text encoding; use e.g. utf-8, cp1251 or 'auto'.")
        return str(encoding).lower()
    return info.name


def detect_encoding(sample: bytes, name: str = "file", full: bool = False) -> EncodingGuess:
    """The encoding of a text sample: BOM, UTF-16 without BOM, valid UTF-8, else detected.

    Parameters
    ----------
    sample : bytes
        The start of the file.
    name : str
        The file's name, for messages.
    full : bool
        ``sample`` is the whole file (its last character is not cut).

    Raises
    ------
    UnsupportedFileError
        When the bytes are not text at all.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return _checked(EncodingGuess("utf-8-sig", how="bom"), sample, name, full)
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _checked(EncodingGuess("utf-16", how="bom"), sample, name, full)
    head = sample[:4096]
    if head and head.count(0) > len(head) // 4:
        # UTF-16 without BOM: ASCII text has a NUL in every other byte.
        odd, even = head[1::2].count(0), head[0::2].count(0)
        if odd > 0.8 * len(head) // 2:
            return _checked(EncodingGuess("utf-16-le", how="utf-16"), sample, name, full)
        if even > 0.8 * len(head) // 2:
            return _checked(EncodingGuess("utf-16-be", how="utf-16"), sample, name, full)
        raise not_text(name)
    non_ascii = 0 if sample.isascii() else len(sample) - len(sample.translate(None, _HIGH_BYTES))
    try:
        decode_sample(sample, "utf-8", full)
    except UnicodeDecodeError:
        pass
    else:
        return _checked(EncodingGuess("utf-8", how="utf-8", non_ascii=non_ascii), sample, name, full)
    # Control characters are the same bytes in every candidate: binary data is refused before detecting.
    if _binary_share(sample.decode("latin-1")) > 0.01:
        raise not_text(name)
    return _checked(_detected(sample, full, non_ascii), sample, name, full)


def forced_encoding(sample: bytes, encoding: str, name: str = "file", full: bool = False) -> EncodingGuess:
    """The user's choice of encoding, checked against the sample.

    Raises
    ------
    InvalidParameterError
        Unknown encoding, or one that cannot decode the start of the file.
    """
    enc = canonical_encoding(encoding)
    if enc == "utf-8" and sample.startswith(codecs.BOM_UTF8):
        enc = "utf-8-sig"
    try:
        decode_sample(sample, enc, full)
    except UnicodeDecodeError as exc:
        line = sample[: exc.start].count(b"\n") + 1
        raise InvalidParameterError(
            f"'{name}' cannot be read as {encoding_label(enc)}: byte 0x{sample[exc.start]:02x} on line {line} is not "
            "valid in it. Choose another encoding, or let MarketLens detect it ('auto').") from exc
    return EncodingGuess(enc, 1.0, "chosen")


def decode_sample(sample: bytes, encoding: str, full: bool) -> str:
    decoder = codecs.getincrementaldecoder(encoding)()
    # final=False lets a multi-byte character cut at the sample's end pass.
    return decoder.decode(sample, final=full)


def not_text(name: str) -> UnsupportedFileError:
    return UnsupportedFileError(
        f"'{name}' is not a text table (it looks like binary data). Upload a CSV/TSV (optionally .gz), "
        "Parquet or Excel .xlsx export of the events.")


def _checked(guess: EncodingGuess, sample: bytes, name: str, full: bool) -> EncodingGuess:
    try:
        text = decode_sample(sample, guess.encoding, full)
    except UnicodeDecodeError as exc:
        raise not_text(name) from exc
    if _binary_share(text) > 0.01:
        raise not_text(name)
    return guess


def _binary_share(text: str) -> float:
    if not text:
        return 0.0
    bad = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n\f\v")
    return bad / len(text)


def _non_ascii_lines(sample: bytes, full: bool) -> bytes:
    """The lines holding non-ASCII bytes (what tells encodings apart), up to a size the detector handles fast.

    Splitting at ``\\n`` is safe for every candidate: no multi-byte sequence of
    Shift_JIS, GB18030, Big5 or CP949 contains that byte.
    """
    lines = sample.split(b"\n")
    if not full and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut inside a character
    picked, size = [], 0
    for line in lines:
        if not line.isascii():
            picked.append(line)
            size += len(line) + 1
            if size >= _DETECT_BYTES:
                break
    return b"\n".join(picked)


def _detected(sample: bytes, full: bool, non_ascii: int) -> EncodingGuess:
    from charset_normalizer import from_bytes

    payload = _non_ascii_lines(sample, full) or sample
    results = list(from_bytes(payload, cp_isolation=_CANDIDATES, explain=False))
    if not results:
        return _fallback(sample, full, non_ascii)
    best = results[0]
    chosen, chaos = canonical_encoding(best.encoding, strict=False), best.chaos
    if chosen in _LATIN or chosen == "iso8859-1":
        western = next((m for m in results if "cp1252" in m.could_be_from_charset), None)
        if western is not None and western.chaos <= best.chaos + _WESTERN_MARGIN:
            chosen, chaos = "cp1252", western.chaos
    evidence = min(1.0, non_ascii / _EVIDENCE_BYTES)
    return EncodingGuess(chosen, round(max(0.0, 1.0 - chaos) * evidence, 3), "detected", non_ascii)


def _fallback(sample: bytes, full: bool, non_ascii: int) -> EncodingGuess:
    """Nothing reads the text cleanly: Windows-1252 when it decodes, else Latin-1 (which decodes any byte)."""
    try:
        decode_sample(sample, "cp1252", full)
    except UnicodeDecodeError:
        return EncodingGuess("iso8859-1", 0.1, "fallback", non_ascii)
    return EncodingGuess("cp1252", 0.2, "fallback", non_ascii)
