"""Channels: which channels the conversions came through, which posts and campaigns engage and convert, who engages."""

import streamlit as st

from analytics.charts import social as social_charts
from ui import auth, channels, widgets
from ui.escape import plain
from ui.guard import user_errors
from ui.stored_results import stored_or_compute

SHOWN_ROWS = 5_000

widgets.page_start("Channels")
ds = widgets.require_dataset()
if not ds.has_events:
    st.info("The Channels page reads the events themselves, and this log is processed on Spark (only its per-user "
            "table is in the workspace). Import the log, or connect it with DuckDB, to use this page.",
            icon=":material/info:")
    st.stop()
ctx = channels.context(ds)
st.caption(f"Touches, posts and campaigns in **{plain(ds.name)}** ({ds.users:,} users, {ds.rows:,} events)."
           + (" Social events: " + plain(channels.kinds_text(ctx.social)) + "." if ctx.social else
              " No social events (impressions, clicks, likes, ...): attribution only."))


def download(label: str, data, file_name: str, key: str) -> None:
    st.download_button(label, data=data, file_name=file_name, mime="text/csv", on_click="ignore",
                       icon=":material/download:", key=key)


stem = "".join(ch if ch.isalnum() else "_" for ch in ds.name)[:60] or "dataset"
tab_attr, tab_content, tab_engage = st.tabs(["Attribution", "Content performance", "Engagement"])

# --- attribution ---------------------------------------------------------------------------------------------
with tab_attr:
    st.markdown("Which channels (or campaigns, sources, ...) the conversions came through, and how much credit each "
                "touch gets under five models.")
    if not ctx.touch_columns:
        st.info("Attribution needs a column that says which channel, campaign or source each event came through "
                "(channel, utm_source, campaign, ...). This log has no text column besides user, time and event: "
                "import it again with such a column kept as an attribute.", icon=":material/info:")
    else:
        if ctx.conversion is None:
            st.warning("No event looks like a conversion (purchase, order, sign_up, ...). Pick the event that "
                       "counts as one.", icon=":material/warning:")
        with st.container(border=True):
            c1, c2, c3, c4 = st.columns(4)
            conversion = c1.selectbox(
                "Conversion event", ctx.events, key=f"attr_conv_{ds.id}", placeholder="Pick the conversion event",
                index=ctx.events.index(ctx.conversion) if ctx.conversion else None,
                help="Each of these events is shared out among the touches before it.")
            by = c2.selectbox("Touch column", ctx.touch_columns, key=f"attr_by_{ds.id}",
                              help="What a touch is: the channel, the campaign, or any text attribute of the events.")
            lookback = c3.number_input("Lookback (days)", 1, 3650, 30, key=f"attr_lookback_{ds.id}",
                                       help="Touches count when at most this long before the conversion.")
            half_life = c4.number_input("Time-decay half-life (days)", 0.5, 3650.0, 7.0, 0.5,
                                        key=f"attr_half_{ds.id}",
                                        help="Time decay: a touch this much older than another gets half its credit.")
            d1, d2, d3 = st.columns([5, 2, 2], vertical_alignment="bottom")
            touch_events = d1.multiselect(
                "Touch events (none picked: every event but the conversion)",
                [e for e in ctx.events if e != conversion], key=f"attr_events_{ds.id}",
                help="Only clicks, for example, for click-through attribution: impressions spread credit towards "
                     "channels that are merely seen.")
            max_touches = d2.number_input("Touches kept per path", 1, 200, 50, key=f"attr_max_{ds.id}",
                                          help="Longer paths keep their last touches (nearest the conversion).")
            keep_repeats = d3.checkbox("Count repeats", key=f"attr_repeats_{ds.id}",
                                       help="Count every touch of a run on the same channel. Off: email, email, "
                                            "search counts as email, search.")
        hint = ("Pick the settings and press **Compute attribution**. Results are kept for each dataset and "
                "settings, so they come back after a reload.")
        result = None
        if conversion is None:
            st.info(hint, icon=":material/info:")
        else:
            settings = channels.attribution_settings(conversion, by, lookback, half_life, touch_events, max_touches,
                                                     keep_repeats)
            result = stored_or_compute(
                lambda: channels.stored_attribution(ds, settings), lambda say: channels.attribute(ds, settings, say),
                button="Compute attribution", icon=":material/route:", key="attr_run", name="the attribution",
                working="Building touch paths and sharing out the conversions...", hint=hint)
        if result is not None:
            m = st.columns(5)
            m[0].metric(f"Conversions ({plain(result.conversion)})", f"{result.conversions:,}")
            m[1].metric("With a touch in the window", f"{result.attributed:,}")
            m[2].metric("Unattributed", f"{result.unattributed:,}",
                        help="No touch in the lookback window before them: no model credits them.")
            m[3].metric("Journeys", f"{result.journeys:,}",
                        help="Converting journeys and the non-converting tails after each user's last conversion.")
            m[4].metric("Distinct paths", f"{result.distinct_paths:,}")
            for note in result.notes:
                st.warning(plain(note), icon=":material/warning:")

            st.markdown(f"**Credit per {plain(result.by)}, model by model**")
            share = st.radio("Show", ["share", "conversions"], horizontal=True, key="attr_share",
                             format_func={"share": "Share of conversions",
                                          "conversions": "Conversions credited"}.get) == "share"
            st.plotly_chart(social_charts.attribution_chart(result, share=share), width="stretch")
            credits = channels.credit_display(result, share)
            widgets.table(credits, column_config={
                c: st.column_config.NumberColumn(format="%.1f%%" if share or c == "Removal effect" else "%.1f")
                for c in credits.columns[1:]} | {"Removal effect": st.column_config.NumberColumn(
                    format="%.1f%%", help="Data-driven model: share of the chain's conversions lost when the "
                                          "touch leads nowhere (these do not add up to 100%).")})
            download("Download the credit table (CSV)", channels.credit_csv(result), f"{stem}_attribution.csv",
                     "dl_credit")
            if result.conversion_value:
                st.caption(f"The conversions carry {result.conversion_value:,.2f} in amounts; the CSV also has the "
                           "amount credited under each model.")

            left, right = st.columns([2, 3])
            with left:
                st.plotly_chart(social_charts.removal_effect_chart(result), width="stretch")
                if result.conversion_probability == result.conversion_probability:  # not NaN
                    st.caption(f"Data-driven model: the chain converts {result.conversion_probability:.1%} of "
                               "journeys; a removal effect is the share of those conversions lost without the "
                               "touch, and credit is shared in proportion to it.")
            with right:
                st.plotly_chart(social_charts.path_chart(result), width="stretch")
            st.markdown("**Top paths**")
            widgets.table(channels.paths_display(result), column_config={
                "Path": st.column_config.TextColumn(width="large"),
                "Conversion rate": st.column_config.NumberColumn(format="%.1f%%"),
                "Journeys": st.column_config.NumberColumn(format="localized"),
                "Conversions": st.column_config.NumberColumn(format="localized")})
            download("Download the path table (CSV)", channels.paths_csv(result), f"{stem}_paths.csv", "dl_paths")
            st.info("**What attribution can and cannot say.** " + result.note, icon=":material/lightbulb:")

# --- content performance -----------------------------------------------------------------------------------------
with tab_content:
    st.markdown("Posts and campaigns ranked by engagement and by conversions after exposure, with confidence "
                "intervals; and the users who engaged with them, as an audience.")
    if not ctx.social:
        st.info(plain(channels.social_needs(ctx)), icon=":material/info:")
    else:
        with st.container(border=True):
            c1, c2, c3, c4, c5 = st.columns(5)
            group = c1.selectbox("Rank", ctx.group_columns, key=f"content_by_{ds.id}",
                                 format_func=ctx.describe_group,
                                 help="The post column, the campaign column, the channel or any text attribute.")
            conv_options = [None, *ctx.events]
            c_conv = c2.selectbox("Conversion event", conv_options, key=f"content_conv_{ds.id}",
                                  index=conv_options.index(ctx.conversion),
                                  format_func=lambda e: "(none: engagement only)" if e is None else e)
            window = c3.number_input("Conversion window (days)", 1, 365, 7, key=f"content_window_{ds.id}",
                                     help="A reached user converted after exposure when a conversion follows one "
                                          "of their exposures within this many days.")
            min_users = c4.number_input("Few users below", 1, 100_000, 30, key=f"content_min_{ds.id}",
                                        help="Rows that reached fewer people are flagged: their rates are rough.")
            confidence = c5.selectbox("Intervals", [0.9, 0.95, 0.99], index=1, key=f"content_conf_{ds.id}",
                                      format_func=lambda c: f"{c:.0%}")
        c_settings = channels.content_settings(group, c_conv, window, min_users, confidence)
        perf = stored_or_compute(
            lambda: channels.stored_content(ds, c_settings), lambda say: channels.content(ds, c_settings, say),
            button="Compute content performance", icon=":material/leaderboard:", key="content_run",
            name="the content table", working="Reach, engagement and conversions...",
            hint="Press **Compute content performance**.")
        if perf is not None:
            few = int(perf.table["few_users"].sum())
            st.caption(f"{len(perf.table):,} values of {plain(perf.by)}; {few:,} reached fewer than "
                       f"{perf.min_users} users (flagged \"few users\", greyed in the charts). Rankings use the lower "
                       "end of each interval, so a post liked by 2 of 2 people does not top one liked by 400 of "
                       "1,000.")
            for note in perf.notes:
                st.warning(plain(note), icon=":material/warning:")
            rankings = ["engagement"] + (["conversion"] if perf.conversion else [])
            for ranking, sub in zip(rankings, st.tabs([f"Ranked by {r}" for r in rankings])):
                with sub:
                    st.plotly_chart(social_charts.content_chart(perf, ranking), width="stretch")
                    widgets.table(channels.content_display(perf, ranking).head(SHOWN_ROWS), column_config={
                                     "Engagement rate": st.column_config.NumberColumn(format="%.3f"),
                                     "Engaged users %": st.column_config.NumberColumn(format="%.1f%%"),
                                     "Conversion rate %": st.column_config.NumberColumn(format="%.1f%%")})
                    download(f"Download the ranking by {ranking} (CSV)", channels.content_csv(perf, ranking),
                             f"{stem}_{perf.by}_by_{ranking}.csv", f"dl_content_{ranking}")
            if perf.conversion:
                st.caption("Conversions after exposure are an association, not the post's effect: a post shown to "
                           "people who were going to buy anyway converts well without causing a sale.")

            st.subheader("Users who engaged with ...")
            ranked = perf.ranked("engagement")[perf.by].astype(str).tolist()
            a1, a2 = st.columns([3, 2])
            picked = a1.multiselect(f"{plain(perf.by)} (any of them)", ranked, default=ranked[:1],
                                    key=f"aud_values_{ds.id}_{perf.by}")
            kinds = a2.multiselect("Counts as engaging", [k for k in channels.AUDIENCE_KINDS if k in ctx.social],
                                   key=f"aud_kinds_{ds.id}",
                                   default=[k for k in ("click", "like", "comment", "share", "save")
                                            if k in ctx.social],
                                   help="Add impression for \"users who were shown it\".")
            b1, b2 = st.columns([1, 2])
            at_least = b1.number_input("At least this many times", 1, 10_000, 1, key=f"aud_min_{ds.id}")
            span = b2.date_input("Between", value=(ds.ts_min.date(), ds.ts_max.date()), min_value=ds.ts_min.date(),
                                 max_value=ds.ts_max.date(), key=f"aud_span_{ds.id}")
            since, until = (span[0], span[1]) if len(span) == 2 else (span[0] if span else None, None)
            args = (perf.by, picked, kinds, since, until, at_least)
            if st.button("Find these users", icon=":material/group_add:", key="aud_run",
                         disabled=not picked or not kinds):
                with user_errors("The audience"):
                    channels.build_audience(ds, *args)
            audience = channels.last_audience(ds, *args)
            if audience is not None:
                st.metric("Users in the audience", f"{audience.size:,}")
                st.text(audience.description)
                widgets.table(audience.users.head(SHOWN_ROWS))
                n1, n2, n3 = st.columns([2, 1, 1], vertical_alignment="bottom")
                name = n1.text_input("Audience name", value=audience.name, key="aud_name")
                if n2.button("Save audience", icon=":material/save:", key="aud_save", disabled=not auth.can_edit(),
                             help=None if auth.can_edit() else auth.READ_ONLY_HELP):
                    with user_errors("Saving the audience"):
                        key = channels.save_audience(ds, audience, name)
                        st.success(f"Saved as '{plain(key)}'.", icon=":material/check_circle:")
                with n3:
                    download("Download the users (CSV)", channels.audience_csv(audience), f"{stem}_audience.csv",
                             "dl_audience")
            saved = channels.saved_audiences(ds)
            if len(saved):
                with st.expander(f"Saved audiences of this dataset ({len(saved)})"):
                    widgets.table(saved)

# --- engagement ------------------------------------------------------------------------------------------------
with tab_engage:
    st.markdown("Per-user engagement (rate, mix of kinds, follows, first and last touch channel) and, per channel, "
                "how often each kind of event is followed by a conversion.")
    if not ctx.social:
        st.info(plain(channels.social_needs(ctx)), icon=":material/info:")
    elif not ctx.touch_columns:
        st.info("The per-channel view needs a channel column; this log has none.", icon=":material/info:")
    else:
        with st.container(border=True):
            c1, c2, c3 = st.columns(3)
            e_by = c1.selectbox("Per", ctx.touch_columns, key=f"eng_by_{ds.id}",
                                help="The channel column (also the first and last touch channel of each user).")
            conv_options = [None, *ctx.events]
            e_conv = c2.selectbox("Conversion event", conv_options, key=f"eng_conv_{ds.id}",
                                  index=conv_options.index(ctx.conversion),
                                  format_func=lambda e: "(none: features only)" if e is None else e)
            e_window = c3.number_input("Conversion window (days)", 1, 365, 7, key=f"eng_window_{ds.id}")
        e_settings = channels.engagement_settings(ctx, e_by, e_conv, e_window)
        view = stored_or_compute(
            lambda: channels.stored_engagement(ds, e_settings), lambda say: channels.engagement(ds, e_settings, say),
            button="Compute engagement", icon=":material/favorite:", key="eng_run", name="the engagement view",
            working="Engagement per user and per channel...", hint="Press **Compute engagement**.")
        if view is not None:
            st.caption("Social events: " + plain(channels.kinds_text(view.features.kinds)) + ".")
            for note in view.features.notes:
                st.warning(plain(note), icon=":material/warning:")
            if view.conversion is not None:
                st.plotly_chart(social_charts.engagement_conversion_chart(view.conversion), width="stretch")
                st.caption("Bars: of the users who did this kind of event on the channel, the share who converted "
                           f"within {view.conversion.window_days:g} days after one (Wilson intervals). Clicks that "
                           "convert and likes that do not show up side by side; an association, not an effect.")
                widgets.table(channels.conversion_display(view), height=300,
                             column_config={"Conversion rate %": st.column_config.NumberColumn(format="%.1f%%")})
                download("Download the conversion-after-engagement table (CSV)",
                         channels.table_csv(view.conversion.table),
                         f"{stem}_engagement_conversion.csv", "dl_eng_conv")
            st.markdown("**Engagement features per user**")
            table = view.features.table
            widgets.table(table.head(SHOWN_ROWS), height=380,
                         column_config=widgets.feature_column_config(list(table.columns)))
            if len(table) > SHOWN_ROWS:
                st.caption(f"Showing the first {SHOWN_ROWS:,} of {len(table):,} users; the download holds all.")
            download("Download the engagement features (CSV)", channels.table_csv(table),
                     f"{stem}_engagement.csv", "dl_eng_features")
            st.caption("The same features join the per-user table on the Features page (so Segments and Models can "
                       "use them), counted up to its reference date.")
