"""Journeys: where people drop off (funnel), whether they come back (retention), what they do around an event
(paths), and how the active users renew (lifecycle); the users behind any number saved as an audience."""

import streamlit as st

from analytics.charts import journeys as journey_charts
from analytics.journeys.settings import FunnelSettings, LifecycleSettings, PathsSettings, RetentionSettings
from ui import auth, journeys, widgets
from ui.escape import plain
from ui.guard import user_errors

widgets.page_start("Journeys")
ds = widgets.require_dataset()
if not ds.has_events:
    st.info("The events of this dataset live in the data lake (Spark); journeys are computed on events in the "
            "workspace. Import the log (or a sample of it) on the Data page to see funnels, retention and paths.",
            icon=":material/info:")
    st.stop()
names = journeys.events(ds)
st.caption(f"**{plain(ds.name)}**: {ds.rows:,} events of {ds.users:,} users. Each view is computed in the "
           "workspace's engine when you press its button, and kept there for these settings.")
if ds.users < 2:
    st.warning(f"This dataset has {ds.users} user: every view works, but percentages of one user say little. "
               "Import a log with more users.", icon=":material/warning:")


def seed(key: str, value) -> dict:
    """Keyword arguments that start a widget at a stored setting (afterwards the user's choice wins).

    The setting goes in as the widget's default, not into session state: a widget given no default
    tells the browser its minimum or first option, and a browser test once saw the funnel's window
    at 0 days and its steps at 2 after a rerun (likely the browser drawing the widgets afresh from
    those defaults). The key alone is the widget's identity, so a new default never resets the
    user's choice.
    """
    return {"key": key, "value": value}


def pick(options: list, wanted, fallback=""):
    """``wanted`` if it is an option (None: the first), else ``fallback``, else the first option."""
    return wanted if wanted in options else fallback if fallback in options else options[0]


def choice(key: str, options: list, wanted, fallback="") -> dict:
    """:func:`seed` for a choice among ``options``, starting at :func:`pick`'s."""
    return {"key": key, "index": options.index(pick(options, wanted, fallback))}


PERIODS, DIRECTIONS = ["week", "month"], ["after", "before"]


def any_of(label: str):
    """Format an event choice where "" (Streamlit shows None as "no choice yet") means no particular event."""
    return lambda e: label if e == "" else e


def all_of(groups: list, label: str = "all users"):
    """Format a group choice by index, -1 meaning every group."""
    return lambda i: label if i < 0 else groups[i].value


# --- saved audiences ----------------------------------------------------------------------------------------------
saved = journeys.saved_audiences(ds)
if len(saved):
    with st.expander(f"Saved audiences ({len(saved)})"):
        widgets.table(saved.drop(columns=["key"]))
        st.caption("Use an audience as a breakdown below, or as a segment on the Models page (Per segment tab).")
        c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
        chosen = c1.selectbox("Audience", list(saved["key"]), key=f"j_saved_{ds.id}",
                              format_func=lambda key, ds=ds: journeys.audience_name(ds, key))
        c2.download_button("Download (CSV)", data=journeys.audience_csv(ds, chosen),
                           file_name=f"audience_{chosen}.csv", mime="text/csv", on_click="ignore",
                           icon=":material/download:")
        if c3.button("Delete", icon=":material/delete:", key="j_delete_audience", disabled=not auth.can_edit(),
                     help=None if auth.can_edit() else auth.READ_ONLY_HELP):
            with user_errors("Deleting the audience"):
                journeys.delete_audience(ds, chosen)
                st.rerun()

breakdown_ids = journeys.breakdown_ids(ds)  # "" (no breakdown) first
funnel_tab, retention_tab, paths_tab, lifecycle_tab = st.tabs(["Funnel", "Retention", "Paths", "Lifecycle"])

# --- funnel -----------------------------------------------------------------------------------------------------------
with funnel_tab:
    k = f"jf_{ds.id}_"
    init = journeys.initial(ds, "funnel") or FunnelSettings(tuple(journeys.default_steps(ds)))
    with st.container(border=True):
        c1, c2, c3, c4 = st.columns([1, 1, 2, 2], vertical_alignment="bottom")
        n = c1.number_input("Steps", 2, 10, **seed(k + "n", max(2, len(init.steps))))
        window = c2.number_input("Window (days)", 0.0, 366.0, step=1.0, **seed(k + "window", init.window_days),
                                 help="Counted from each user's first step-1 event; later steps must happen no later "
                                      "than that plus the window (more than 0, at most 366 days).")
        exclude = c3.selectbox("Without doing in between", ["", *names], format_func=any_of("(no exclusion)"),
                               **choice(k + "exclude", ["", *names], init.exclude),
                               help="The user's first such event after step 1 closes their window.")
        by_id = c4.selectbox("Break down by", list(breakdown_ids), format_func=lambda b: journeys.breakdown_label(
            ds, breakdown_ids[b]), **choice(k + "by", list(breakdown_ids), journeys.breakdown_id(init.breakdown)))
        cols = st.columns(5)
        steps = [cols[i % 5].selectbox(f"Step {i + 1}", names, **choice(
            f"{k}step{i}", names, init.steps[i] if i < len(init.steps) else None, names[min(i, len(names) - 1)]))
            for i in range(int(n))]
        any_order = st.checkbox("Steps 2 onwards in any order", **seed(k + "any", init.any_order))
    for i, event in enumerate(steps):
        if event in steps[:i]:
            first = steps.index(event) + 1
            st.caption(f"Step {i + 1} repeats step {first} ({plain(event)}): it counts a later "
                       f"{plain(event)}, strictly after the one of step {first}.")
    breakdown = breakdown_ids[by_id]
    note = journeys.breakdown_note(ds, breakdown)
    if note:
        st.caption(plain(note))
    settings = FunnelSettings(tuple(steps), float(window), exclude or None, any_order, breakdown, journeys.TOP_GROUPS)
    view = journeys.view_section(ds, settings, button="Compute the funnel", icon=":material/filter_alt:",
                                 key="j_funnel_go", name="the funnel",
                                 working="Following every user through the steps...",
                                 hint="Pick the steps in order and press **Compute the funnel**.")
    if view is not None:
        r = view.result
        last = r.steps[-1]
        m = st.columns(4)
        m[0].metric("Users entering", f"{r.users:,}")
        m[1].metric("Completed", f"{last.users:,}")
        m[2].metric("Conversion", f"{last.conversion_from_start:.1%}")
        m[3].metric("Median time to complete", journeys.duration(last.median_seconds_from_start) or "-")
        st.plotly_chart(journey_charts.funnel_chart(r, title=f"Funnel by {journeys.breakdown_title(ds, breakdown)}"
                                                    if breakdown else None), width="stretch")
        stuck = next((s for s in r.steps[1:] if s.users == 0), None)
        if r.users and stuck is not None:
            st.info(f"Nobody reached step {stuck.step} ({plain(stuck.event)}) in order within "
                    f"{r.window_days:g} days. Check the order of the steps, or try a longer window or any order.",
                    icon=":material/info:")
        table = journeys.steps_table(r.table())
        widgets.table(table, column_config=journeys.percent_columns(table))
        st.download_button("Download the steps (CSV)", journeys.csv(r.table()), file_name="funnel_steps.csv",
                           mime="text/csv", on_click="ignore", icon=":material/download:", key="j_dl_steps")
        if r.groups:
            st.markdown(f"**Per {plain(journeys.breakdown_title(ds, breakdown))}** (the {len(r.groups)} "
                        "groups; users entering the funnel are counted in the group of their step-1 event)")
            groups = journeys.steps_table(r.breakdown_table())
            widgets.table(groups, column_config=journeys.percent_columns(groups))
            st.download_button("Download the breakdown (CSV)", journeys.csv(r.breakdown_table()),
                               file_name="funnel_breakdown.csv",
                               mime="text/csv", on_click="ignore", icon=":material/download:", key="j_dl_groups")
        st.markdown("**Time to convert**")
        c1, _ = st.columns([1, 2])
        to_step = c1.selectbox("From the previous step to", list(range(2, len(r.steps) + 1)), key=k + "ttc",
                               format_func=lambda s, r=r: f"step {s}: {r.steps[s - 1].event}")
        st.plotly_chart(journey_charts.time_to_convert_chart(r, to_step), width="stretch")
        st.download_button("Download times to convert (CSV)", journeys.csv(r.time_table()),
                           file_name="funnel_time_to_convert.csv", mime="text/csv", on_click="ignore",
                           icon=":material/download:", key="j_dl_ttc")

        act = st.container(border=True)
        act.markdown("**Act on it: save the users behind a step as an audience**")
        c1, c2 = act.columns(2)
        reached = c1.selectbox("Users who", list(range(1, len(r.steps) + 1)), key=k + "aud_step",
                               format_func=lambda s, r=r: journeys.reached_label(r, s))
        group_i = c2.selectbox("Of", list(range(-1, len(r.groups))), key=k + "aud_group",
                               format_func=all_of(r.groups)) if r.groups else -1
        group = None if group_i < 0 else r.groups[group_i].value
        base = next(g.steps for g in r.groups if g.value == group) if group is not None else r.steps
        count = base[reached].drop_off if reached < len(base) else base[-1].users
        c1, c2, c3 = act.columns([3, 1, 1], vertical_alignment="bottom")
        aud_name = c1.text_input(f"Audience name ({count:,} users)", key=f"{k}aud_name_{reached}_{group}",
                                 value=journeys.funnel_audience_name(settings, reached, group))
        if c2.button("Save audience", icon=":material/group_add:", key="j_save_funnel_audience",
                     disabled=not auth.can_edit(), help=None if auth.can_edit() else auth.READ_ONLY_HELP):
            with user_errors("Saving the audience"):
                journeys.save_audience(ds, journeys.funnel_audience(ds, settings, reached, group), aud_name, "funnel")
                st.rerun()  # the audience lists above (saved audiences, breakdowns) include it now
        c3.download_button("Download (CSV)", journeys.funnel_audience_csv(ds, settings, reached, group),
                           file_name="funnel_audience.csv", mime="text/csv", on_click="ignore",
                           icon=":material/download:", key="j_dl_funnel_audience")
        saved_now = journeys.just_saved(ds, "funnel")
        if saved_now:
            act.success(f"Saved '{plain(saved_now.name)}' ({saved_now.size:,} users). Use it as a breakdown "
                        "here, or as a segment on the Models page.", icon=":material/check_circle:")

# --- retention --------------------------------------------------------------------------------------------------------
with retention_tab:
    k = f"jr_{ds.id}_"
    init = journeys.initial(ds, "retention") or RetentionSettings()
    with st.container(border=True):
        c1, c2, c3, c4 = st.columns([1, 2, 2, 2], vertical_alignment="bottom")
        period = c1.radio("Cohorts by", PERIODS, **choice(k + "period", PERIODS, init.period), horizontal=True,
                          help="UTC; weeks start on Monday.")
        cohort_event = c2.selectbox("Starting event", ["", *names], format_func=any_of("first event of any kind"),
                                    **choice(k + "start", ["", *names], init.cohort_event),
                                    help="A user's cohort is the period of their first such event.")
        return_event = c3.selectbox("Coming back means", ["", *names], format_func=any_of("any event"),
                                    **choice(k + "return", ["", *names], init.return_event))
        r_by_id = c4.selectbox("Break down by", list(breakdown_ids), format_func=lambda b: journeys.breakdown_label(
            ds, breakdown_ids[b]), **choice(k + "by", list(breakdown_ids), journeys.breakdown_id(init.breakdown)))
    r_breakdown = breakdown_ids[r_by_id]
    note = journeys.breakdown_note(ds, r_breakdown)
    if note:
        st.caption(plain(note))
    r_settings = RetentionSettings(period, cohort_event or None, return_event or None, r_breakdown,
                                   journeys.TOP_GROUPS)
    view = journeys.view_section(ds, r_settings, button="Compute retention", icon=":material/event_repeat:",
                                 key="j_retention_go", name="retention", working="Building cohorts...",
                                 hint="Choose how cohorts are formed and press **Compute retention**.")
    if view is not None:
        r = view.result
        if r.last_period_partial:
            st.caption(f"The data ends on {r.data_end:%Y-%m-%d}, inside its last {period}: the last cell of each "
                       "cohort covers only part of that period, so it reads lower than it will be.")
        c1, c2 = st.columns([2, 1]) if r.groups else (None, st.container())
        group_i = c1.selectbox("Cohorts of", list(range(-1, len(r.groups))), key=k + "group",
                               format_func=all_of(r.groups)) if r.groups else -1
        group = None if group_i < 0 else r.groups[group_i].value
        show = c2.radio("Colour by", ["rates", "counts"], horizontal=True, key=k + "show",
                        format_func={"rates": "percentages", "counts": "counts"}.get)
        matrix = r.matrix_of(group)
        if not matrix.sizes:
            st.info("No user did the starting event, so there are no cohorts.", icon=":material/info:")
        else:
            st.plotly_chart(journey_charts.cohort_heatmap(r, group=group, show=show), width="stretch")
            st.plotly_chart(journey_charts.retention_curves(r), width="stretch")
            cells = journeys.cohort_table(matrix.frame(rates=show == "rates"), period, rates=show == "rates")
            widgets.table(cells)
            c1, c2, c3 = st.columns(3)
            c1.download_button("Download counts (CSV)", journeys.csv(r.table(rates=False)),
                               file_name=f"retention_{period}_counts.csv", mime="text/csv", on_click="ignore",
                               icon=":material/download:", key="j_dl_counts")
            c2.download_button("Download percentages (CSV)", journeys.csv(r.table(rates=True)),
                               file_name=f"retention_{period}_rates.csv", mime="text/csv", on_click="ignore",
                               icon=":material/download:", key="j_dl_rates")
            c3.download_button("Download the average curve (CSV)", journeys.csv(r.average_table()),
                               file_name=f"retention_{period}_average.csv", mime="text/csv", on_click="ignore",
                               icon=":material/download:", key="j_dl_average")

            act = st.container(border=True)
            act.markdown("**Act on it: save the users of a cohort cell as an audience**")
            c1, c2, c3 = act.columns(3)
            cohort_i = c1.selectbox("Cohort", list(range(len(matrix.sizes))), key=k + "aud_cohort",
                                    format_func=lambda i, m=matrix: f"{m.cohort_starts[i]} ({m.sizes[i]:,} users)")
            row = matrix.counts[cohort_i]
            offset_i = c2.selectbox(f"In {period}", [-1, *range(len(row))], key=f"{k}aud_offset_{cohort_i}",
                                    format_func=lambda p, row=row, period=period: "the whole cohort" if p < 0 else
                                    f"{period} {p} ({row[p]:,} came back)")
            offset = None if offset_i < 0 else offset_i
            retained = c3.radio("Users who", [True, False], horizontal=True, key=k + "aud_retained",
                                format_func={True: "came back", False: "did not come back"}.get,
                                disabled=offset is None)
            size = matrix.sizes[cohort_i]
            count = size if offset is None else row[offset] if retained else size - row[offset]
            start = matrix.cohort_starts[cohort_i]
            c1, c2, c3 = act.columns([3, 1, 1], vertical_alignment="bottom")
            aud_name = c1.text_input(f"Audience name ({count:,} users)", key=f"{k}aud_name_{cohort_i}_{offset}_"
                                     f"{retained}_{group}", value=journeys.cohort_audience_name(
                                         r_settings, start, offset, retained, group))
            if c2.button("Save audience", icon=":material/group_add:", key="j_save_cohort_audience",
                         disabled=not auth.can_edit(), help=None if auth.can_edit() else auth.READ_ONLY_HELP):
                with user_errors("Saving the audience"):
                    journeys.save_audience(ds, journeys.cohort_audience(ds, r_settings, start, offset, retained,
                                                                        group), aud_name, "retention")
                    st.rerun()
            c3.download_button("Download (CSV)", journeys.cohort_audience_csv(ds, r_settings, start, offset, retained,
                                                                              group),
                               file_name="cohort_audience.csv", mime="text/csv", on_click="ignore",
                               icon=":material/download:", key="j_dl_cohort_audience")
            saved_now = journeys.just_saved(ds, "retention")
            if saved_now:
                act.success(f"Saved '{plain(saved_now.name)}' ({saved_now.size:,} users). Use it as a "
                            "breakdown here, or as a segment on the Models page.", icon=":material/check_circle:")

# --- paths ----------------------------------------------------------------------------------------------------------
with paths_tab:
    k = f"jp_{ds.id}_"
    init = journeys.initial(ds, "paths") or PathsSettings(pick(names, "add_to_cart"))
    with st.container(border=True):
        c1, c2, c3, c4 = st.columns([2, 1, 1, 1], vertical_alignment="bottom")
        anchor = c1.selectbox("Around each user's first", names, **choice(k + "event", names, init.event))
        direction = c2.radio("Look", DIRECTIONS, horizontal=True, **choice(k + "direction", DIRECTIONS, init.direction))
        n_steps = c3.number_input("Steps", 1, 10, **seed(k + "steps", init.steps))
        top = c4.number_input("Events per step", 2, 20, **seed(k + "top", init.top),
                              help="The most common events of each step get their own box; the rest are '(other)'.")
        collapse = st.checkbox("Count a run of the same event as one step", **seed(k + "collapse",
                                                                                     init.collapse_repeats))
    p_settings = PathsSettings(anchor, int(n_steps), direction, int(top), collapse)
    view = journeys.view_section(ds, p_settings, button="Compute the paths", icon=":material/account_tree:",
                                 key="j_paths_go", name="the paths", working="Following users around the event...",
                                 hint="Pick an event and press **Compute the paths**.")
    if view is not None:
        r = view.result
        st.plotly_chart(journey_charts.sankey_chart(r), width="stretch")
        st.markdown("**Step by step** (share: of the users at the event nearer the anchor)")
        transitions = journeys.share_table(r.transitions)
        widgets.table(transitions, column_config=journeys.percent_columns(transitions))
        st.download_button("Download the transitions (CSV)", journeys.csv(r.transitions),
                           file_name="paths_transitions.csv", mime="text/csv", on_click="ignore",
                           icon=":material/download:", key="j_dl_transitions")
        st.markdown("**Most common paths**")
        whole = r.paths_table()
        widgets.table(journeys.share_table(whole),
                     column_config=journeys.percent_columns(whole))
        st.download_button("Download the paths (CSV)", journeys.csv(whole), file_name="paths_top.csv",
                           mime="text/csv", on_click="ignore", icon=":material/download:", key="j_dl_paths")

# --- lifecycle --------------------------------------------------------------------------------------------------------
with lifecycle_tab:
    k = f"jl_{ds.id}_"
    init = journeys.initial(ds, "lifecycle") or LifecycleSettings()
    c1, c2 = st.columns([1, 2], vertical_alignment="bottom")
    l_period = c1.radio("Per", PERIODS, horizontal=True, **choice(k + "period", PERIODS, init.period))
    activity = c2.selectbox("Active means doing", ["", *names], format_func=any_of("any event"),
                            **choice(k + "event", ["", *names], init.event))
    l_settings = LifecycleSettings(l_period, activity or None)
    view = journeys.view_section(
        ds, l_settings, button="Compute the lifecycle", icon=":material/autorenew:", key="j_lifecycle_go",
        name="the lifecycle", working="Finding active users per period...",
        hint="Press **Compute the lifecycle** to split each period's active users into new, returning and "
             "resurrected, with the dormant ones below zero.")
    if view is not None:
        st.plotly_chart(journey_charts.lifecycle_chart(view.result), width="stretch")
        st.caption("New: first active period in the data. Returning: also active the period before. Resurrected: "
                   "not active the period before, but some time earlier. Dormant: active the period before, not "
                   "this one. The first period has only new users (nothing earlier is known).")
        table = view.result.table.assign(period_start=view.result.table["period_start"].dt.date)
        widgets.table(table)
        st.download_button("Download the lifecycle (CSV)", journeys.csv(table), file_name=f"lifecycle_{l_period}.csv",
                           mime="text/csv", on_click="ignore", icon=":material/download:", key="j_dl_lifecycle")
