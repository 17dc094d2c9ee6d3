"""AppTest: the sidebar's "Download report" button is on every page when there is a dataset, and only then."""

from __future__ import annotations

import pytest

from tests.apptest_helpers import app, open_page

PAGES = ("pages/data.py", "pages/features.py", "pages/segments.py", "pages/models.py")


def report_buttons(at) -> list:
    return [b for b in at.sidebar.get("download_button") if b.label == "Download report"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_offers_the_report_of_the_sample(sample_dataset, page):
    at = open_page(app(), page)
    buttons = report_buttons(at)
    assert len(buttons) == 1 and "opens without internet" in buttons[0].proto.help


def test_no_report_button_without_a_dataset(workspace):
    at = open_page(app(), "pages/features.py")
    assert report_buttons(at) == []


def test_report_file_name_and_bytes(workspace, sample_dataset):
    from ui import reporting

    workspace.rename(sample_dataset.id, "Q3 <shop> / ëu: *all*")
    ds = workspace.get(sample_dataset.id)
    assert reporting.file_name(ds) == "Q3__shop____ëu___all_report.html"
    data = reporting.report_maker(ds)()
    assert data.startswith(b"<!DOCTYPE html>") and "Q3 &lt;shop&gt; / ëu: *all*".encode() in data
    workspace.delete(ds.id)
    assert b"The report could not be made" in reporting.report_maker(ds)()


def test_the_report_uses_the_money_settings_of_when_it_is_made(workspace, sample_dataset):
    """The sidebar's button is drawn before the Models page's money section changes them (it redraws alone)."""
    from ui import reporting

    make = reporting.report_maker(workspace.get(sample_dataset.id))
    reporting.remember_money(7.0, 55.0)  # entered after the button was drawn
    settings = make().decode()
    assert "<dt>Cost per contact</dt><dd>7.00</dd>" in settings
    assert "<dt>Value per conversion</dt><dd>55.00</dd>" in settings
