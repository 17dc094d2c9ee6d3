"""Which text encoding a file is in: byte-order marks, UTF-8, UTF-16, then charset-normalizer.

Exports from Windows tools come in the code page of the machine that wrote
them (Windows-1251 in Russia, Shift_JIS in Japan, GB18030 in China, Windows-1252
in Western Europe and the Americas). Reading one as another imports garbled
names without any error, so the encoding is decided here from the bytes,
shown to the user with how sure the decision is, and can be overridden.
"""

from __future__ import annotations

import codecs
import functools
import re
import unicodedata
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
               "koi8_r", "koi8_u", "iso8859_2", "iso8859_5", "iso8859_7", "iso8859_15", "latin_1",
               "cp932", "euc_jp", "gb18030", "big5", "cp949"]

# How rare each candidate is in exports, added to charset-normalizer's "mess" of the decoded text
# before choosing: on short samples several code pages read about equally clean, and the common
# one should win then.
_RARITY = {"koi8-r": 0.03, "koi8-u": 0.05, "iso8859-1": 0.05, "iso8859-2": 0.05, "iso8859-5": 0.05,
           "iso8859-7": 0.05, "iso8859-15": 0.05, "euc_jp": 0.05}
_RARE = 0.0  # the Windows code pages and the main CJK encodings

_COHERENCE_WEIGHT = 0.2  # language fit tells Cyrillic from Greek where both decode cleanly

# Scripts a word is not written in a mix of: one that is (Wrocіaw, Orlйans) was decoded wrong.
# (See _plausible.)
_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARABIC", "HEBREW", "THAI", "HANGUL")

# Words: runs between spaces, ASCII punctuation and digits, and the punctuation of other scripts
# (typographic quotes and dashes, CJK and fullwidth punctuation, « » ¡ ¿ ·). Symbols such as '³' or
# '¯' stay inside the word, where they show a wrong decoding (Wroc³aw is Polish read as Windows-1252).
_WORD = re.compile("[^\\s!-@\\[-`{-~\u00a1\u00ab\u00b7\u00bb\u00bf\u2000-\u206f\u3000-\u303f\uff01-\uff20]+")

# Single-byte Latin code pages decode names and cities to different accented letters, which
# charset-normalizer does not tell apart reliably (it finds "déjà" messier than "déją"). Among
# them the one reading the most non-ASCII bytes as letters wins (Polish in Windows-1252 shows
# symbols such as '³'), and on a tie this order decides: Windows-1252, by far the most common, first.
_LATIN = ("cp1252", "cp1250", "cp1254", "cp1257", "cp1258", "iso8859-1", "iso8859-15", "iso8859-2")

_EVIDENCE_BYTES = 64  # non-ASCII bytes needed before a detection counts as fully informed

_CLEAR_GAP = 0.1  # score gap to the runner-up at which the choice counts as clear

_DETECT_BYTES = 16 * 1024  # of non-ASCII lines handed to the detector (it is slow on megabytes)

_HIGH_BYTES = bytes(range(128, 256))

_CONTROL = re.compile("[\x00-\x08\x0e-\x1f]")

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
        detection, how clean the decoded text reads, times how much non-ASCII text
        there was to go on, times how clearly it beat the next-best encoding.
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
        f"'{name}' is not a text table (it looks like binary data). Upload a CSV/TSV or JSON lines file "
        "(optionally .gz), Parquet or Excel .xlsx export of the events.")


def _checked(guess: EncodingGuess, sample: bytes, name: str, full: bool) -> EncodingGuess:
    try:
        text = decode_sample(sample, guess.encoding, full)
    except UnicodeDecodeError as exc:
        raise not_text(name) from exc
    if _binary_share(text) > 0.01:
        raise not_text(name)
    return guess


def _binary_share(text: str) -> float:
    """Share of control characters other than tab, line and page breaks: binary data has many."""
    return len(_CONTROL.findall(text)) / len(text) if text else 0.0


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


@dataclass(frozen=True)
class _Candidate:
    encoding: str
    chaos: float  # charset-normalizer's mess ratio of the decoded text (0 = clean)
    letters: float  # share of the non-ASCII characters that are letters of plausible words
    coherence: float = 0.0  # how well the text fits the letter frequencies of some language (0..1)

    @property
    def score(self) -> float:
        return self.chaos + _RARITY.get(self.encoding, _RARE) - _COHERENCE_WEIGHT * self.coherence


def _detected(sample: bytes, full: bool, non_ascii: int) -> EncodingGuess:
    """The candidate whose decoding reads most as words, then cleanest and most common.

    Candidates are charset-normalizer's plus Windows-1252 and -1250 (which it drops
    when it misjudges accents). Those decoding the non-ASCII bytes to letters about as
    well as the best one are eligible; the lowest mess plus rarity wins, and among
    Latin code pages the order of :data:`_LATIN`. The confidence is the product of how
    clean the text reads (1 - mess), how much non-ASCII text there was to go on, and
    how clearly the choice beat the runner-up (a tie gives one half).
    """
    from charset_normalizer import from_bytes

    payload = _non_ascii_lines(sample, full) or sample
    found = {canonical_encoding(m.encoding, strict=False): (m.chaos, m.could_be_from_charset, m.coherence)
             for m in from_bytes(payload, cp_isolation=_CANDIDATES, explain=False)}
    if not found:
        return _fallback(sample, full, non_ascii)
    same_text = {alias for _, aliases, _ in found.values() for alias in aliases if alias in ("cp1252", "cp1250")}
    candidates = [_candidate(payload, enc, chaos, coherence) for enc, (chaos, _, coherence) in found.items()]
    candidates += [c for enc in ("cp1252", "cp1250") if enc not in found and enc not in same_text
                   and (c := _candidate(payload, enc)) is not None]
    candidates = [c for c in candidates if c is not None]
    top = max(c.letters for c in candidates)
    eligible = [c for c in candidates if c.letters >= top - 0.02]
    best = min(eligible, key=lambda c: (c.score, c.encoding))
    if best.encoding in _LATIN:
        latin = [c for c in eligible if c.encoding in _LATIN]
        first = min(latin, key=lambda c: _LATIN.index(c.encoding))
        best = _Candidate(first.encoding, min(c.chaos for c in latin), first.letters, first.coherence)
        others = [c for c in candidates if c.encoding not in _LATIN]
    else:
        others = [c for c in candidates if c is not best]
    encoding = best.encoding
    if encoding != "cp1252" and "cp1252" in found.get(encoding, (0, [], 0))[1]:
        encoding = "cp1252"  # it decodes these bytes to exactly the same text

    def total(c: _Candidate) -> float:  # lower is better: reads as words, clean, common, like a language
        return 2 * (top - c.letters) + c.score

    gap = min((total(c) for c in others), default=total(best) + _CLEAR_GAP) - total(best)
    clarity = 0.5 + 0.5 * max(0.0, min(1.0, gap / _CLEAR_GAP))
    evidence = min(1.0, non_ascii / _EVIDENCE_BYTES)
    return EncodingGuess(encoding, round(max(0.0, 1.0 - best.chaos) * evidence * clarity, 3), "detected", non_ascii)


def _candidate(payload: bytes, encoding: str, chaos: float | None = None, coherence: float = 0.0) -> _Candidate | None:
    from charset_normalizer.md import mess_ratio

    try:
        text = payload.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None
    words = [w for w in _WORD.findall(text) if not w.isascii()]
    high = sum(sum(ord(ch) >= 128 for ch in w) for w in words)
    letters = sum(sum(ord(ch) >= 128 for ch in w) for w in words if _plausible(w)) / high if high else 1.0
    return _Candidate(canonical_encoding(encoding, strict=False),
                      mess_ratio(text) if chaos is None else chaos, letters, coherence)


def _plausible(word: str) -> bool:
    """A word as real text writes it: letters only (Wroc³aw is not), of one script (Wrocіaw is not),
    and in Latin script with a plain letter (Ìîñêâà is Cyrillic read in a Latin code page). CJK
    ideographs and kana may mix with any script (iPhone充電器)."""
    plain = any(ch.isascii() and ch.isalpha() for ch in word)
    scripts = {"LATIN"} if plain else set()
    for ch in word:
        if ord(ch) >= 128:
            letter, script = _char_class(ch)
            if not letter:
                return False
            if script:
                scripts.add(script)
    if len(scripts) > 1:
        return False
    return scripts != {"LATIN"} or plain or len(word) <= 2


@functools.lru_cache(maxsize=4096)
def _char_class(ch: str) -> tuple[bool, str]:
    """Whether a character is a letter (or combining mark), and its script when one of :data:`_SCRIPTS`."""
    script = unicodedata.name(ch, "").split(" ", 1)[0]
    return unicodedata.category(ch)[0] in "LM", script if script in _SCRIPTS else ""


def _fallback(sample: bytes, full: bool, non_ascii: int) -> EncodingGuess:
    """Nothing reads the text cleanly: Windows-1252 when it decodes, else Latin-1 (which decodes any byte)."""
    try:
        decode_sample(sample, "cp1252", full)
    except UnicodeDecodeError:
        return EncodingGuess("iso8859-1", 0.1, "fallback", non_ascii)
    return EncodingGuess("cp1252", 0.2, "fallback", non_ascii)
