"""AppTest of the Data page with messy exports: the encoding select box, title lines, identifier roles."""

from __future__ import annotations

from tests.apptest_helpers import app, button, no_traceback, upload

CITIES = ["Plzeň", "Ústí nad Labem", "České Budějovice", "Brno"]
CZECH = ("Export objednávek - e-shop\n\nzákazník,datum,akce,částka,město\n" + "".join(
    f"z{i % 5},2025-02-{1 + i % 27:02d} 10:00:00,{'nákup' if i % 3 == 0 else 'zobrazení'},"
    f"{f'{i}.5' if i % 3 == 0 else ''},{CITIES[i % 4]}\n" for i in range(30))).encode("cp1250")

RUSSIAN = ("user_id,event_time,событие,город,sku\n" + "".join(
    f"u{i % 4},2025-02-{1 + i % 27:02d} 10:00:00,{'покупка' if i % 3 == 0 else 'просмотр'},"
    f"{['Москва', 'Казань'][i % 2]},p{i % 5}\n" for i in range(30))).encode("cp1251")


def encoding_box(at):
    [box] = [s for s in at.selectbox if s.key.startswith("encoding_")]
    return box


def captions(at) -> str:
    """The captions' text, without the Markdown escapes that keep file text plain."""
    return "\n".join(c.value.replace("\\", "") for c in at.caption)


def test_detected_encoding_and_title_lines_are_shown_and_identifiers_offered(workspace):
    at = upload(app(), "ru.csv", RUSSIAN)
    no_traceback(at)
    box = encoding_box(at)
    assert box.value == "auto" and box.format_func("auto").startswith("As detected: Windows-1251 (Cyrillic) (")
    assert "Windows-1251 (Cyrillic), detected with" in captions(at)
    assert at.selectbox(key="role_event").value == "событие"
    assert at.selectbox(key="role_item_id").value == "sku"
    button(at, "Import").click().run()
    no_traceback(at)
    [ds] = workspace.datasets()
    assert sorted(set(workspace.events(ds.id)["город"])) == ["Казань", "Москва"]
    assert ds.mapping.item_id == "sku"


def test_choosing_another_encoding_reads_the_file_again(workspace):
    at = upload(app(), "cz.csv", CZECH)
    no_traceback(at)
    assert "title line" in captions(at) and "Export objedn" in captions(at)
    encoding_box(at).set_value("cp1250").run()
    no_traceback(at)
    assert "Windows-1250 (Central European), as you chose" in captions(at)
    assert at.selectbox(key="role_user_id").value == "zákazník"
    assert list(at.dataframe[0].value["město"][:4]) == CITIES
    button(at, "Import").click().run()
    no_traceback(at)
    [ds] = workspace.datasets()
    assert workspace.events(ds.id, limit=None)["město"].tolist()[:4] == CITIES
    assert ds.rows == 30 and ds.mapping.amount == "částka"


def test_an_encoding_that_cannot_read_the_file_says_so(workspace):
    at = upload(app(), "ru.csv", RUSSIAN)
    encoding_box(at).set_value("utf-8").run()
    no_traceback(at)
    assert any("cannot be read as UTF-8" in e.value.replace("\\", "") for e in at.error)
    button(at, "Import").click().run()  # still importable as detected
    no_traceback(at)
    assert len(workspace.datasets()) == 1
