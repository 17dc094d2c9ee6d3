"""How text becomes timestamps and numbers: formats detected from all values of a column.

:func:`detect_time_format` and :func:`detect_number_format` decide;
:mod:`analytics.ingest.cleaning` turns those decisions into SQL.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

import pandas as pd

DATE_ORDERS = ("auto", "dmy", "mdy")


@dataclass(frozen=True)
class TimeFormat:
    """How a time column's text becomes a UTC timestamp.

    Attributes
    ----------
    kind : str
        ``native`` (already a timestamp), ``iso`` (ISO 8601, offsets honoured),
        ``epoch_s``/``epoch_ms``/``epoch_us``, ``yyyymmdd``, ``dmy``/``mdy``/``ymd``
        (separated dates with optional time), ``named`` (English month names: ``Mar 1, 2025``,
        ``01-Mar-2025``, ``Sat, 01 Mar 2025 10:00:00 +0000``).
    formats : tuple of str
        strptime formats tried in order (for the separated-date kinds).
    ambiguous : bool
        Day-first vs month-first could not be told from the sample.
    share : float
        Share of sample values this format parses.
    """

    kind: str
    formats: tuple[str, ...] = ()
    ambiguous: bool = False
    share: float = 1.0

    @property
    def offsets(self) -> bool:
        """The formats read a time-zone offset (``%z``): the parsed times are converted to UTC."""
        return any("%z" in f for f in self.formats)

    def describe(self) -> str:
        text = {
            "native": "timestamps",
            "iso": "ISO 8601 date/time (time-zone offsets converted to UTC)",
            "epoch_s": "Unix epoch seconds",
            "epoch_ms": "Unix epoch milliseconds",
            "epoch_us": "Unix epoch microseconds",
            "yyyymmdd": "dates written YYYYMMDD",
            "dmy": "day-first dates (DD/MM/YYYY)",
            "mdy": "month-first dates (MM/DD/YYYY)",
            "ymd": "year-first dates (YYYY/MM/DD)",
            "named": "dates with English month names (" + ", ".join(f"'{f}'" for f in self.formats[:3])
                     + (", ..." if len(self.formats) > 3 else "") + ")",
        }[self.kind]
        if self.offsets:
            text += "; time-zone offsets converted to UTC"
        if self.ambiguous:
            text += "; every sampled date fits both day-first and month-first, so this was assumed: check it"
        return text


_SEP_DATE = re.compile(
    r"^(\d{1,4})([/.-])(\d{1,2})\2(\d{1,4})"
    r"(?:([ T])(\d{1,2}):(\d{2})(:\d{2}(?:\.\d+)?)?\s*([AaPp][Mm])?)?\s*$")

_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?\s*(?:Z|UTC|[+-]\d{2}(?::?\d{2})?)?$", re.I)

_INT = re.compile(r"^\d+(?:\.\d+)?$")

_MONTH_NAME = re.compile(r"(?<![a-z])(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?(?![a-z])", re.I)

# Dates with month names as exports write them (strptime formats, which DuckDB's strptime and, through
# java_pattern, Spark read alike), each with the usual time parts; then whole formats of known sources.
_NAMED_DATES = ("%b %d, %Y", "%B %d, %Y", "%b %d %Y", "%B %d %Y", "%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%d-%b-%y",
                "%a, %d %b %Y", "%a %b %d %Y", "%A, %B %d, %Y")
_NAMED_TIMES = ("", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p", ", %H:%M", ", %I:%M %p", " %H:%M:%S %z")
_NAMED_WHOLE = ("%a %b %d %H:%M:%S %z %Y",  # X/Twitter API created_at
                "%d/%b/%Y:%H:%M:%S %z",  # web server logs
                "%a, %d %b %Y %H:%M:%S GMT")  # HTTP dates
NAMED_FORMATS = tuple(d + t for d in _NAMED_DATES for t in _NAMED_TIMES) + _NAMED_WHOLE


def _named_time_format(text: list[str]) -> TimeFormat | None:
    """The month-name formats that read at least 80% of ``text``, most used first (None when none do)."""
    if sum(bool(_MONTH_NAME.search(v)) for v in text) < 0.8 * len(text):
        return None
    head = text[:500]
    used: dict[str, int] = {}
    parsed = 0
    for i, v in enumerate(head):
        if i == 50 and not parsed:  # words like 'may' or 'march' in text that is not a date
            return None
        for fmt in sorted(used, key=used.get, reverse=True) + [f for f in NAMED_FORMATS if f not in used]:
            try:
                datetime.strptime(v, fmt)
            except ValueError:
                continue
            used[fmt] = used.get(fmt, 0) + 1
            parsed += 1
            break
    if parsed < 0.8 * len(head):
        return None
    return TimeFormat("named", tuple(sorted(used, key=used.get, reverse=True)), share=parsed / len(head))


def detect_time_format(values: Iterable[object], date_order: str = "auto") -> TimeFormat | None:
    """Find the format that parses most of ``values`` (at least 80% of non-empty ones).

    Parameters
    ----------
    values : iterable
        A sample of the column (text, numbers or datetimes).
    date_order : {"auto", "dmy", "mdy"}
        Force day-first or month-first for separated dates; ``auto`` decides from
        the values (a first number above 12 means day-first, a second above 12
        month-first) and flags the result ambiguous when neither occurs.

    Returns
    -------
    TimeFormat or None
        None when nothing parses well enough.
    """
    if date_order not in DATE_ORDERS:
        raise ValueError(f"date_order must be one of {DATE_ORDERS}, got {date_order!r}")
    sample = [v for v in values if v is not None and str(v).strip() != ""][:5000]
    if not sample:
        return None
    if all(isinstance(v, pd.Timestamp) or hasattr(v, "tzinfo") for v in sample):
        return TimeFormat("native")
    text = [str(v).strip() for v in sample]
    n = len(text)

    iso = sum(bool(_ISO.match(v)) for v in text) / n
    if iso >= 0.8:
        return TimeFormat("iso", share=iso)

    ints = [v for v in text if _INT.match(v)]
    if len(ints) >= 0.8 * n:
        digits = sorted(len(v.split(".")[0]) for v in ints)
        typical = digits[len(digits) // 2]
        if typical == 8 and all(_plausible_yyyymmdd(v) for v in ints[:500]):
            return TimeFormat("yyyymmdd", ("%Y%m%d",), share=len(ints) / n)
        epochs = {9: "epoch_s", 10: "epoch_s", 12: "epoch_ms", 13: "epoch_ms", 15: "epoch_us", 16: "epoch_us"}
        kind = epochs.get(typical)
        if kind:
            return TimeFormat(kind, share=len(ints) / n)
        return None

    matches = [m for m in (_SEP_DATE.match(v) for v in text) if m]
    if len(matches) < 0.8 * n:
        return _named_time_format(text)
    first = [int(m.group(1)) for m in matches]
    second = [int(m.group(3)) for m in matches]
    sep = max(set(m.group(2) for m in matches), key=[m.group(2) for m in matches].count)
    if max(len(m.group(1)) for m in matches) == 4:
        kind, ambiguous = "ymd", False
    elif date_order != "auto":
        kind, ambiguous = date_order, False
    else:
        kind, ambiguous = decide_date_order(max(first), max(second), sep)
    year_digits = max(len(m.group(1 if kind == "ymd" else 4)) for m in matches)
    fmts = separated_date_formats(kind, sep, two_digit_year=year_digits <= 2,
                                  time_first=_typical_time_part(matches))
    return TimeFormat(kind, fmts, ambiguous, share=len(matches) / n)


def decide_date_order(max_first: int, max_second: int, sep: str) -> tuple[str, bool]:
    """Day-first or month-first from the largest first and second numbers seen.

    Returns the order and whether it was a guess. With no evidence, dotted
    dates (31.12.2025) are taken as day-first and slashed ones as month-first,
    and the result is flagged ambiguous.
    """
    if max_first > 12 >= max_second:
        return "dmy", False
    if max_second > 12 >= max_first:
        return "mdy", False
    if max_first > 12 and max_second > 12:
        return "dmy", True  # inconsistent data; cleaning reports what fails to parse
    return ("dmy" if sep in ".-" else "mdy"), True


def separated_date_formats(kind: str, sep: str, two_digit_year: bool = False,
                           time_first: str = "") -> tuple[str, ...]:
    """strptime formats for a separated date with every common time part."""
    y = "%y" if two_digit_year else "%Y"
    date = {"dmy": f"%d{sep}%m{sep}{y}", "mdy": f"%m{sep}%d{sep}{y}", "ymd": f"{y}{sep}%m{sep}%d"}[kind]
    times = [" %H:%M:%S", " %H:%M", " %I:%M:%S %p", " %I:%M %p", "T%H:%M:%S", " %H:%M:%S.%f", ""]
    if time_first in times:
        times.remove(time_first)
        times.insert(0, time_first)
    return tuple(date + t for t in times)


def _typical_time_part(matches: list[re.Match]) -> str:
    parts = []
    for m in matches[:500]:
        if not m.group(5):
            parts.append("")
            continue
        sep = "T" if m.group(5) == "T" else " "
        secs = m.group(8)
        base = "%I:%M" if m.group(9) else "%H:%M"
        if secs:
            base += ":%S.%f" if "." in secs else ":%S"
        parts.append(sep + base + (" %p" if m.group(9) else ""))
    return max(set(parts), key=parts.count)


def _plausible_yyyymmdd(v: str) -> bool:
    y, m, d = int(v[:4]), int(v[4:6]), int(v[6:8])
    return 1970 <= y <= 2100 and 1 <= m <= 12 and 1 <= d <= 31


@dataclass(frozen=True)
class NumberFormat:
    """How an amount column's text becomes a number.

    Attributes
    ----------
    decimal : {".", ","}
    thousands : str or None
        Grouping character to remove (``,`` ``.`` or space).
    strip_symbols : bool
        Remove currency marks and spaces first (``€ 12,50``, ``12.50 USD``, ``Rs. 1,200``, ``1 200 zł``):
        see :data:`CURRENCY_MARKS`.
    share : float
        Share of non-empty sample values that parse.
    """

    decimal: str = "."
    thousands: str | None = None
    strip_symbols: bool = False
    share: float = 1.0

    def describe(self) -> str:
        parts = ["decimal comma" if self.decimal == "," else "decimal point"]
        if self.thousands:
            parts.append(f"'{self.thousands}' as thousands separator")
        if self.strip_symbols:
            parts.append("currency marks removed")
        return ", ".join(parts)

    def parse(self, text: str) -> float | None:
        """Python twin of the SQL conversion, used on samples."""
        s = text.strip()
        if self.strip_symbols:
            s = unmarked(s)
        if self.thousands:
            s = s.replace(self.thousands, "")
        if self.decimal == ",":
            s = s.replace(",", ".")
        try:
            value = float(s)
        except ValueError:
            return None
        return value if value == value and abs(value) != float("inf") else None


# Currency marks at either end of an amount, in one regular expression that Python, DuckDB (RE2) and
# Spark (Java) all read the same way (literal characters only, no \\p{...} classes or backreferences):
# any currency sign ($ € £ ¥ ₹ ₩ ₽ ₺ ...), possibly with letters (R$, HK$, US$), or a currency code set
# apart by a space or a dot (USD 12, 12 CHF, Rs. 1,200, 100 zł, 5 kr). Only the codes below count: other
# letters before a number are a code of the shop's (A.1, x 3, SKU 12), not money.
_SIGNS = "".join(ch for ch in map(chr, range(0x10000)) if unicodedata.category(ch) == "Sc")
_LETTERS = "A-Za-zÀ-ɏЀ-ӿ"  # Latin (with accents) and Cyrillic
# ISO 4217 codes in capitals (in lower case too many are words: all, top, cup, try, pen), then the
# local abbreviations shops write in place of a sign.
ISO_CURRENCIES = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF "
    "CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD "
    "HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD "
    "MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN "
    "PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY "
    "TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG").split()
LOCAL_CURRENCIES = ("RMB NTD Rs Rp RM kr Kr zł Zł Kč Ft lei Lei Fr fr Bs TL DH Dhs KM Br Tk MT "
                    "лв ден дин руб грн сом").split()
_CODE = "(?:" + "|".join(sorted(ISO_CURRENCIES + LOCAL_CURRENCIES, key=len, reverse=True)) + ")"
# What groups thousands besides , and . : no-break and (narrow) thin spaces (French exports), apostrophes (Swiss).
_SPACES = " \t\u00a0\u2009\u202f'\u2019"
_SIGNED = f"[{_LETTERS}]{{0,3}}[{_SIGNS}][{_LETTERS}]{{0,3}}"
_START = f"(?:{_SIGNED}|{_CODE}\\.?[{_SPACES}]|{_CODE}\\.|S/)[{_SPACES}]*"
_END = f"(?:[{_SPACES}]*{_SIGNED}|[{_SPACES}]+{_CODE}\\.?)"
# Groups: 1 sign, 2 mark before, 3 the number, 4 mark after. It matches any one-line text.
CURRENCY_MARKS = f"^([+-]?)[{_SPACES}]*({_START})?(.*?)({_END})?$"
SPACES_CLASS = f"[{_SPACES}]"
MARK_NOISE = f"[{_SPACES}.]"  # what currency_mark leaves out

_MARKED = re.compile(CURRENCY_MARKS)


def unmarked(text: str) -> str:
    """``text`` (stripped) without its currency marks and spaces: the number's own characters."""
    m = _MARKED.match(text)
    s = m.group(1) + m.group(3) if m else text
    return re.sub(SPACES_CLASS, "", s)


def currency_mark(text: str) -> str:
    """The currency mark of an amount without spaces or dots (``Rs. 1,200`` -> ``Rs``); empty when it has none."""
    m = _MARKED.match(text.strip())
    mark = (m.group(2) or "") + (m.group(4) or "") if m else ""
    return re.sub(MARK_NOISE, "", mark)


_COMMA_DECIMAL = re.compile(r"^[+-]?(\d{1,3}(\.\d{3})+|\d+),\d{1,2}$|^[+-]?\d+,\d{4,}$|^[+-]?0,\d+$")

_POINT_DECIMAL = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d+)\.\d{1,2}$|^[+-]?\d+\.\d{4,}$|^[+-]?0\.\d+$")

_COMMA_GROUPS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def detect_number_format(values: Iterable[object]) -> NumberFormat:
    """Decimal comma or point, grouping, currency symbols: decided from a sample."""
    text = [str(v).strip() for v in values if v is not None and str(v).strip() != ""][:5000]
    if not text:
        return NumberFormat(share=0.0)
    if all(isinstance(v, (int, float)) for v in values if v is not None):
        return NumberFormat()
    cleaned = [unmarked(v) for v in text]
    strip = cleaned != text
    comma_dec = sum(bool(_COMMA_DECIMAL.match(v)) for v in cleaned)
    point_dec = sum(bool(_POINT_DECIMAL.match(v)) for v in cleaned)
    if comma_dec > point_dec:
        fmt = NumberFormat(",", "." if any("." in v for v in cleaned) else None, strip)
    elif any(_COMMA_GROUPS.match(v) for v in cleaned):
        fmt = NumberFormat(".", ",", strip)
    else:
        fmt = NumberFormat(".", None, strip)
    share = sum(fmt.parse(v) is not None for v in text) / len(text)
    return replace(fmt, share=share)
