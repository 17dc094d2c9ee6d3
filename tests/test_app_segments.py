"""AppTest of the Segments page: k sweep, segmentation, maps, rename, save, export; empty and tiny data."""

from __future__ import annotations

from tests.apptest_helpers import app, button, errors, no_traceback, open_page, read, text_box
from tests.helpers import write
from tests.sequence_data import without_torch


def test_empty_workspace(workspace):
    at = open_page(app(), "pages/segments.py")
    assert any("no dataset yet" in i.value for i in at.info)


def test_sweep_segment_map_rename_save(sample_dataset, workspace):
    at = open_page(app(), "pages/segments.py")
    button(at, "Help me choose k (2 to 12)").click().run()
    no_traceback(at)
    recommended = at.number_input(key=f"k_{sample_dataset.id}").value
    assert 2 <= recommended <= 12 and any("ranks best" in i.value for i in at.info)
    button(at, "Segment").click().run()
    no_traceback(at)
    users = [int(m.value.replace(",", "")) for m in at.metric if m.label == "Users"]
    assert len(users) == recommended and sum(users) == sample_dataset.users
    for method in ("pca", "tsne"):
        at.radio(key="map_method").set_value(method).run()
        button(at, f"Draw the {'t-SNE' if method == 'tsne' else method.upper()} map").click().run()
        no_traceback(at)
    assert len(at.get("plotly_chart")) >= 4  # sweep, sizes, profile, map
    # A new session (a reload, a restart) gets the maps back from the workspace, not an error.
    again = open_page(app(), "pages/segments.py")
    again.number_input(key=f"k_{sample_dataset.id}").set_value(recommended).run()
    button(again, "Segment").click().run()
    for method in ("pca", "tsne"):
        again.radio(key="map_method").set_value(method).run()
        no_traceback(again)
        assert errors(again) == []
        assert not [b for b in again.button if b.label.startswith("Draw the")]  # kept, not drawn again
    text_box(at, "Segmentation name").set_value("My <b>segments</b>").run()
    button(at, "Save segmentation").click().run()
    no_traceback(at)
    [saved] = workspace.results(sample_dataset.id, "segmentation")
    frames = workspace.result(sample_dataset.id, "segmentation", saved.key).frames
    assert len(frames["labels"]) == sample_dataset.users and "map_tsne" in frames and "map_pca" in frames
    assert [b.label for b in at.main.get("download_button")] == ["Download user_id → segment (CSV)"]


def test_tiny_dataset_says_why(workspace, tmp_path):
    workspace.import_file(write(tmp_path / "two.csv", "user,time,event\na,2025-01-01,view\nb,2025-01-02,buy\n"))
    at = open_page(app(), "pages/segments.py")
    at.number_input(key=f"k_{workspace.datasets()[0].id}").set_value(5).run()
    button(at, "Segment").click().run()
    no_traceback(at)
    assert errors(at), "fewer users than k must be explained"


def test_segments_on_behaviour_sequence_embeddings(sample_dataset, workspace):
    at = open_page(app(), "pages/segments.py")
    at.radio(key="seg_space").set_value("sequence").run()
    no_traceback(at)
    assert any("recurrent network (GRU)" in c.value for c in at.caption)
    button(at, "Help me choose k (2 to 12)").click().run()  # learns the profiles, then sweeps k on them
    no_traceback(at)
    k = at.number_input(key=f"k_{sample_dataset.id}").value
    assert 2 <= k <= 12 and any("ranks best" in i.value for i in at.info)
    button(at, "Segment").click().run()
    no_traceback(at)
    assert errors(at) == []
    users = [int(m.value.replace(",", "")) for m in at.metric if m.label == "Users"]
    assert len(users) == k and sum(users) == sample_dataset.users
    captions = " ".join(read(c.value) for c in at.caption)
    assert "behaviour-sequence embedding" in captions and "The sequence model learned from" in captions
    [learned] = workspace.results(sample_dataset.id, "seqprofile")  # kept: a rerun or a reload does not retrain
    at.radio(key="map_method").set_value("pca").run()
    button(at, "Draw the PCA map").click().run()
    no_traceback(at)
    assert any("behaviour-sequence profiles" in c.value for c in at.caption)
    # The map read the kept profiles: nothing was trained again.
    assert [s.created_at for s in workspace.results(sample_dataset.id, "seqprofile")] == [learned.created_at]
    text_box(at, "Segmentation name").set_value("by sequence").run()
    button(at, "Save segmentation").click().run()
    no_traceback(at)
    [saved] = workspace.results(sample_dataset.id, "segmentation")
    assert saved.meta["brief"]["space"] == "sequence" and saved.meta["brief"]["k"] == k


def test_sequence_embeddings_without_pytorch_say_how_to_install(sample_dataset, workspace, monkeypatch):
    without_torch(monkeypatch)  # "import torch" fails as on a machine without it
    at = open_page(app(), "pages/segments.py")
    at.radio(key="seg_space").set_value("sequence").run()
    no_traceback(at)
    assert any("pip install -r requirements-deep.txt" in read(i.value) for i in at.info)
    assert button(at, "Segment").disabled and button(at, "Help me choose k (2 to 12)").disabled
    at.radio(key="seg_space").set_value("features").run()
    assert not button(at, "Segment").disabled


def test_the_name_box_follows_the_segmentation_and_warns_before_replacing(sample_dataset, workspace):
    at = open_page(app(), "pages/segments.py")
    k = at.number_input(key=f"k_{sample_dataset.id}")
    k.set_value(3).run()
    button(at, "Segment").click().run()
    assert text_box(at, "Segmentation name").value == "kmeans_k3"
    at.number_input(key=f"k_{sample_dataset.id}").set_value(4).run()
    button(at, "Segment").click().run()
    assert text_box(at, "Segmentation name").value == "kmeans_k4"  # not the name drawn for k = 3
    button(at, "Save segmentation").click().run()
    assert [r.key for r in workspace.results(sample_dataset.id, "segmentation")] == ["kmeans_k4"]
    at.number_input(key=f"k_{sample_dataset.id}").set_value(3).run()
    button(at, "Segment").click().run()
    assert not any("exists already" in c.value for c in at.caption)
    text_box(at, "Segmentation name").set_value("kmeans_k4").run()
    assert any("saved as 'kmeans\\_k4' exists already: saving replaces it" in c.value for c in at.caption)
    # Names are stored letters and digits only, lower case: another spelling is the same name.
    text_box(at, "Segmentation name").set_value("KMeans K4!").run()
    assert any("saved as 'kmeans\\_k4' exists already" in c.value for c in at.caption)
    no_traceback(at)


def test_segments_made_with_other_settings_say_so(sample_dataset, workspace):
    at = open_page(app(), "pages/segments.py")
    at.number_input(key=f"k_{sample_dataset.id}").set_value(3).run()
    button(at, "Segment").click().run()
    assert not [w for w in at.warning if "other settings" in w.value]  # the settings on screen made them
    at.number_input(key=f"k_{sample_dataset.id}").set_value(5).run()
    at.radio(key="seg_scaling").set_value("robust").run()
    [note] = [w.value for w in at.warning if "other settings" in w.value]
    assert "k = 3" in note and "the number of segments and the scaling or capping differ" in note
    button(at, "Segment").click().run()
    assert not [w for w in at.warning if "other settings" in w.value]
    at.radio(key="seg_method").set_value("rfm").run()
    assert any("the method differs. Press" in w.value for w in at.warning)
    no_traceback(at)
