"""Encodings of real exports: detected after BOM/UTF-8/UTF-16, shown with a confidence, and overridable."""

from __future__ import annotations

import json
import subprocess
import sys

import duckdb
import pytest

from analytics.errors import InvalidParameterError, RaggedRowsError
from analytics.ingest.encoding import canonical_encoding, detect_encoding
from analytics.ingest.recognise import open_source
from analytics.ingest.relation import preview
from tests.helpers import ROOT

# Per language: the header of the export, its events, cities and people (what garbles when misread).
EXPORTS = {
    "cp1251": (["user_id", "event_time", "событие", "город", "amount"],
               ["просмотр", "корзина", "покупка"], ["Москва", "Санкт-Петербург", "Новосибирск", "Екатеринбург"],
               ["Иван", "Ольга", "Пётр", "Наталья"]),
    "shift_jis": (["user_id", "event_time", "イベント", "都市", "amount"],
                  ["閲覧", "カート追加", "購入"], ["東京", "大阪", "横浜", "名古屋"], ["田中", "鈴木", "佐藤", "高橋"]),
    "gb18030": (["user_id", "event_time", "事件", "城市", "amount"],
                ["浏览", "加入购物车", "购买"], ["北京", "上海", "广州", "深圳"], ["张伟", "王芳", "李娜", "刘洋"]),
    "cp1252": (["user_id", "event_time", "événement", "Stadt/Ville", "amount"],
               ["vue", "panier", "achat"], ["Orléans", "Zürich", "Málaga", "Besançon"],
               ["Jürgen", "Noël", "José", "Françoise"]),
    "utf-8": (["user_id", "event_time", "événement", "город", "amount"],
              ["vue", "покупка", "購入"], ["Orléans", "Москва", "東京", "São Paulo"], ["Zoë", "Иван", "田中", "Søren"]),
}


def export_text(encoding: str, rows: int = 60) -> tuple[str, list[list[str]]]:
    """A small export in the language of ``encoding``: its text and its data rows."""
    header, events, cities, people = EXPORTS[encoding]
    data = []
    for i in range(rows):
        person = people[i % len(people)]
        data.append([f"{person}_{i % 9}", f"2025-03-{1 + i % 28:02d} {8 + i % 12:02d}:{i % 60:02d}:00",
                     events[i % len(events)], cities[(i // 3) % len(cities)],
                     f"{10 + i}.5" if events[i % len(events)] == events[-1] else ""])
    lines = [",".join(header)] + [",".join(r) for r in data]
    return "\r\n".join(lines) + "\r\n", data


@pytest.mark.parametrize("encoding", list(EXPORTS))
def test_real_exports_round_trip_exactly(workspace, tmp_path, encoding):
    text, data = export_text(encoding)
    path = tmp_path / f"export_{encoding}.csv"
    path.write_bytes(text.encode(encoding))
    with open_source(path) as src:
        guess = src.encoding_guess
        # Shift_JIS is detected as its Windows superset CP932: what matters is the same text.
        assert path.read_bytes().decode(guess.encoding) == text
        assert guess.confidence >= 0.6 and not guess.uncertain
        if encoding != "utf-8":
            assert f"{guess.label}, detected with {guess.confidence:.0%} confidence" in src.describe()
    ds = workspace.import_file(path, name=encoding)
    header = EXPORTS[encoding][0]
    assert ds.mapping.event == header[2] and ds.mapping.attributes == [header[3]]
    events = workspace.events(ds.id, limit=None)
    assert list(events.columns[:3]) == ["user_id", "ts", "event"] and header[3] in events.columns
    assert events["user_id"].tolist() == [r[0] for r in data]
    assert events["event"].tolist() == [r[2] for r in data]
    assert events[header[3]].tolist() == [r[3] for r in data]


def test_detection_keeps_utf8_bom_and_utf16_first():
    assert detect_encoding("ä,b\n".encode("utf-8-sig")).how == "bom"
    assert detect_encoding("ä,b\n".encode("utf-16")).encoding == "utf-16"
    assert detect_encoding("a,b\nä,ö\n".encode()).encoding == "utf-8"


def test_a_file_too_short_to_tell_says_so_and_imports(workspace, tmp_path):
    path = tmp_path / "short.csv"
    path.write_bytes("user_id,event_time,event\nu1,2025-01-01 10:00,café\nu2,2025-01-02 10:00,view\n"
                     .encode("cp1252"))
    with open_source(path) as src:
        guess = src.encoding_guess
        assert guess.encoding == "cp1252" and guess.uncertain and guess.confidence < 0.6
        assert "only 1 non-ASCII byte to go on" in src.describe()
        assert any("encoding is uncertain" in n and "--encoding" in n for n in src.notes)
    ds = workspace.import_file(path)
    assert sorted(workspace.events(ds.id)["event"]) == ["café", "view"]


def test_the_user_can_override_the_encoding(workspace, tmp_path):
    # Czech in Windows-1250 reads as clean Latin letters in Windows-1252 too (Plzeò for Plzeň): the
    # detector cannot tell them apart, the user can.
    cities = ["Plzeň", "Ústí nad Labem", "České Budějovice", "Brno"]
    text = "user_id,event_time,event,město\n" + "".join(
        f"u{i},2025-02-{1 + i % 28:02d} 10:00:00,nákup,{cities[i % 4]}\n" for i in range(40))
    path = tmp_path / "cz.csv"
    path.write_bytes(text.encode("cp1250"))
    with open_source(path, encoding="windows-1250") as src:
        assert src.encoding == "cp1250" and src.encoding_guess.how == "chosen"
        assert "Windows-1250 (Central European), as you chose" in src.describe()
        assert preview(duckdb.connect(), src)["město"].tolist()[:4] == cities
    ds = workspace.import_file(path, encoding="cp1250")
    assert workspace.events(ds.id)["město"].tolist()[:4] == cities


def test_an_override_that_cannot_be_right_is_refused(tmp_path):
    path = tmp_path / "ru.csv"
    path.write_bytes(export_text("cp1251")[0].encode("cp1251"))
    with pytest.raises(InvalidParameterError, match="cannot be read as UTF-8: byte 0x"):
        open_source(path, encoding="utf-8")
    with pytest.raises(InvalidParameterError, match="Unknown text encoding 'klingon'"):
        open_source(path, encoding="klingon")
    with pytest.raises(InvalidParameterError, match="not a text encoding"):
        canonical_encoding("zlib")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=300)


def test_cli_encoding_flag(tmp_path):
    text, data = export_text("cp1251", rows=30)
    log = tmp_path / "ru.csv"
    log.write_bytes(text.encode("cp1251"))
    res = cli("features", log, "-o", tmp_path / "f.csv", "--encoding", "cp1251", "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["roles"]["event"] == "событие"
    assert any("Windows-1251 (Cyrillic), as you chose" in n for n in summary["notes"])
    bad = cli("import", log, "--encoding", "klingon")
    assert bad.returncode == 2 and bad.stderr.startswith("error: Unknown text encoding 'klingon'")


def test_a_row_in_another_encoding_after_the_sample_is_named_as_such(workspace, tmp_path):
    rows = "".join(f"u{i % 90},2025-01-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00,view,Paris\n"
                   for i in range(40000))
    path = tmp_path / "late.csv"
    path.write_bytes(("user_id,event_time,event,city\n" + rows).encode() + "u7,2025-01-02 10:00:00,view,Orléans\n"
                     .encode("cp1252") + rows.encode())
    with pytest.raises(RaggedRowsError, match=r"are not valid UTF-8 text \(first at line 40002\).*--encoding"):
        workspace.import_file(path)
    ds = workspace.import_file(path, encoding="cp1252")
    assert ds.report.rejected_rows == 0 and "Orléans" in set(workspace.events(ds.id, limit=None)["city"])
