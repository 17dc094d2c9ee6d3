"""The optional identifier roles: item (product), content (post, creative, ad) and campaign."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from analytics.ingest.roles import ID_ROLES, ROLE_LABELS, ROLES, guess_mapping, mapping_with
from tests.helpers import ROOT, write


def frame(**cols) -> pd.DataFrame:
    return pd.DataFrame(cols).astype(object)


BASE = dict(user_id=[f"u{i % 5}" for i in range(20)], ts=[f"2025-01-{1 + i % 9:02d} 10:00" for i in range(20)],
            event=["view", "cart", "purchase", "view"] * 5)


@pytest.mark.parametrize("item, content, campaign", [
    ("sku", "post_id", "utm_campaign"),
    ("product_id", "creative_id", "campaign_name"),
    ("item_id", "ad_id", "campaign"),
    ("Artikelnummer", "media_id", "Kampagne"),
    ("article", "tweet_id", "campagne"),
    ("товар", "пост_id", "кампания"),
    ("商品", "投稿_id", "キャンペーン"),
])
def test_identifiers_are_guessed_from_names_in_several_languages(item, content, campaign):
    df = frame(**BASE, **{item: [f"p{i % 7}" for i in range(20)], content: [f"c{i % 4}" for i in range(20)],
                          campaign: ["spring", "summer"] * 10, "channel": ["email", "ads"] * 10})
    m = guess_mapping(df).mapping
    assert (m.item_id, m.content_id, m.campaign) == (item, content, campaign)
    assert (m.user_id, m.timestamp, m.event) == ("user_id", "ts", "event")
    assert m.attributes == ["channel"]


def test_identifiers_are_not_guessed_from_values_or_from_times_and_money():
    df = frame(**BASE, category=[f"p{i % 7}" for i in range(20)], sku=[f"{i}.99" for i in range(20)],
               campaign=["2025-01-01 10:00"] * 20)
    m = guess_mapping(df).mapping
    assert (m.item_id, m.content_id, m.campaign) == (None, None, None)
    assert {"category", "campaign"} <= set(m.attributes) and m.amount == "sku"  # decimals: money, not ids


def test_a_product_column_is_an_item_not_the_event_of_a_transaction_log():
    df = frame(customer_id=BASE["user_id"], date=BASE["ts"], product=[f"shoe {i % 3}" for i in range(20)],
               value=[f"{i}.5" for i in range(20)])
    m = guess_mapping(df).mapping
    assert (m.item_id, m.event, m.amount) == ("product", None, "value")


def test_roles_and_labels_cover_the_new_roles():
    assert ROLES[-3:] == ID_ROLES == ("item_id", "content_id", "campaign")
    assert set(ROLE_LABELS) == set(ROLES)
    base = guess_mapping(frame(**BASE, sku=["a", "b"] * 10, extra=["x"] * 20)).mapping
    moved = mapping_with(list(BASE) + ["sku", "extra"], base, item_id="extra", campaign="sku")
    assert (moved.item_id, moved.campaign, moved.attributes) == ("extra", "sku", [])


LOG = "customer,time,action,SKU,Post ID,utm_campaign,item_id,channel,price\n" + "".join(
    f"c{i % 6},2025-02-{1 + i % 27:02d} 1{i % 10}:00:00,{'purchase' if i % 5 == 0 else 'view'},  sku-{i % 9} ,"
    f"p{i % 4},{['spring', 'summer', ''][i % 3]},legacy{i % 2},{['email', 'ads'][i % 2]},"
    f"{f'{i}.5' if i % 5 == 0 else ''}\n" for i in range(60))


def test_identifiers_become_canonical_text_columns(workspace, tmp_path):
    ds = workspace.import_file(write(tmp_path / "shop.csv", LOG), changes={"item_id": "SKU"})
    assert (ds.mapping.item_id, ds.mapping.content_id, ds.mapping.campaign) == ("SKU", "Post ID", "utm_campaign")
    types = {r[0]: r[1] for r in workspace.cursor().execute(f'DESCRIBE "{ds.events_table}"').fetchall()}
    assert [c for c in types if not c.startswith("_")] == [
        "user_id", "ts", "event", "amount", "session_id", "item_id", "content_id", "campaign", "item_id_attr",
        "channel"]
    assert types["item_id"] == types["content_id"] == types["campaign"] == "VARCHAR"
    events = workspace.events(ds.id, limit=None)
    assert events["item_id"].tolist()[:2] == ["sku-0", "sku-1"]  # trimmed like the other identifiers
    assert events["campaign"].isna().sum() == 20  # empty stays empty
    assert any("item / product id 'SKU' as item_id" in n and "campaign 'utm_campaign' as campaign" in n
               for n in ds.report.notes)
    features = workspace.features(ds.id)
    assert "top_channel" in features.columns
    assert not {"top_item_id", "top_content_id", "top_campaign"} & set(features.columns)
    assert set(ds.profile.attributes) == {"item_id_attr", "channel"} and ds.mapping.amount == "price"
    # A renamed attribute keeps what the sample says about it: 2 values, each listed.
    assert ds.profile.attributes["item_id_attr"].values == ("legacy0", "legacy1")


def test_identifier_roles_come_after_the_core_columns(sample_dataset, workspace):
    cols = list(workspace.events(sample_dataset.id).columns)
    assert cols == ["user_id", "ts", "event", "amount", "session_id", "item_id", "channel", "platform", "country",
                    "category"]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "analytics", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=300)


def test_cli_identifier_flags(tmp_path):
    log = write(tmp_path / "shop.csv", LOG)
    res = cli("features", log, "-o", tmp_path / "f.csv", "--item-col", "item_id", "--no-content-col",
              "--campaign-col", "channel", "--json")
    assert res.returncode == 0, res.stderr
    roles = json.loads(res.stdout)["roles"]
    assert (roles["item_id"], roles["campaign"]) == ("item_id", "channel") and "content_id" not in roles
    assert "top_channel" not in pd.read_csv(tmp_path / "f.csv").columns
