"""Sections on the models: how k and the algorithm were chosen, what separates the segments, how well
the first purchase predicts the segment, the purchase forecast and its backtest."""

from __future__ import annotations

import html

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from customer_segments.delivery import formats
from customer_segments.delivery.report.page import PALETTE, VALUE_ORDER_TEXT, Report, Section, table_html
from customer_segments.prediction.first_purchase import CATEGORY_SHARE_PREFIX
from customer_segments.settings import sql_literal


def k_selection(report: Report) -> Section | None:
    if not report.has("segment_k_selection"):
        return None
    frame = report.df("select * from segment_k_selection order by k")
    chosen = frame.loc[frame.is_chosen].iloc[0]
    panels = (("inertia", "Inertia (elbow)", "inertia"), ("silhouette", "Silhouette ↑", "silhouette"),
              ("calinski_harabasz", "Calinski-Harabasz ↑", "CH index"), ("davies_bouldin", "Davies-Bouldin ↓", "DB index"),
              ("bootstrap_mean_ari", "Bootstrap stability (ARI) ↑", "mean ARI"),
              ("smallest_cluster_share", "Smallest segment share", "share of customers"))
    figure = make_subplots(rows=2, cols=3, subplot_titles=[title for _, title, _ in panels],
                           horizontal_spacing=0.08, vertical_spacing=0.16)
    for i, (metric, title, axis_title) in enumerate(panels):
        row, col = divmod(i, 3)
        figure.update_yaxes(title_text=axis_title, row=row + 1, col=col + 1)
        # The stability interval (mean +- 2 SE), not the spread of single pairs.
        error = ({"type": "data", "array": frame.bootstrap_ari_high - frame.bootstrap_mean_ari, "visible": True}
                 if metric == "bootstrap_mean_ari" else None)
        figure.add_trace(go.Scatter(x=frame.k, y=frame[metric], mode="lines+markers", name=title, showlegend=False,
                                    error_y=error, line_color="#0072B2",
                                    hovertemplate="k=%{x}: %{y:.3f}<extra></extra>"), row=row + 1, col=col + 1)
        figure.add_trace(go.Scatter(x=[chosen.k], y=[chosen[metric]], mode="markers", showlegend=False,
                                    marker={"size": 12, "color": "#D55E00", "symbol": "diamond"},
                                    hovertemplate=f"chosen k={chosen.k}: %{{y:.3f}}<extra></extra>"),
                         row=row + 1, col=col + 1)
    figure.update_xaxes(dtick=1, title_text="k (segments)")
    figure.update_yaxes(tickformat=".0%", row=2, col=3)
    figure.update_layout(title=f"Choosing k: chosen k = {chosen.k} (orange diamond), elbow at k = {chosen.elbow_k}")
    table = frame[["k", "inertia", "silhouette", "calinski_harabasz", "davies_bouldin", "bootstrap_mean_ari",
                   "bootstrap_ari_low", "bootstrap_ari_high", "bootstrap_resamples", "smallest_cluster_share",
                   "cluster_sizes", "is_chosen"]]
    how = "by the selection rule" if chosen.chosen_by == "rule" else "by var n_segments"
    return Section("Choosing the number of segments",
                   f"K-means on {chosen.features} ({chosen['transform']}) of {int(chosen.customers):,} customers. "
                   f"k = {chosen.k} was chosen {how}: {chosen.selection_reason}.",
                   [report.chart(figure, height=560), table_html(table)])


def algorithm_comparison(report: Report) -> Section | None:
    if not report.has("segment_algorithm_comparison"):
        return None
    frame = report.df("select * from segment_algorithm_comparison order by not is_production, algorithm")
    label = frame.algorithm + " (" + frame.n_clusters.astype(str) + " clusters)"
    metrics = [("silhouette", "Silhouette"), ("bootstrap_mean_ari", "Bootstrap stability (ARI)"),
               ("noise_share", "Noise share"), ("smallest_cluster_share", "Smallest cluster share")]
    if frame.ari_planted_groups.notna().any():  # generated data: agreement with the planted groups
        metrics.insert(1, ("ari_planted_groups", "ARI vs planted groups"))
    colours = ("#0072B2", "#009E73", "#E69F00", "#D55E00", "#999999")
    figure = go.Figure([
        go.Bar(name=title, x=label, y=frame[metric], marker_color=colour, texttemplate="%{y:.2f}",
               textposition="outside", hovertemplate=title + " %{x}: %{y:.3f}<extra></extra>")
        for (metric, title), colour in zip(metrics, colours)
    ])
    figure.update_layout(barmode="group", yaxis_range=[0, 1.1], xaxis_title="algorithm", yaxis_title="score (0 to 1)",
                         title=f"Algorithms on the same features (k = {frame.k.iloc[0]} where the method takes one)")
    table = frame[["algorithm", "is_production", "parameters", "n_clusters", "noise_share", "silhouette",
                   "calinski_harabasz", "davies_bouldin", "ari_planted_groups", "bootstrap_mean_ari",
                   "bootstrap_sd_ari", "cluster_sizes"]].dropna(axis=1, how="all")
    parts = [report.chart(figure), table_html(table)]
    if report.has("segment_feature_set_comparison"):
        sets = report.df("""
            select rank, feature_set, transform, features, silhouette, ari_planted_groups, bootstrap_mean_ari,
                   smallest_cluster_share, verdict, is_best, is_production
            from segment_feature_set_comparison order by rank
        """).dropna(axis=1, how="all")
        parts.append("<h3>Feature sets and transforms (K-means, same k)</h3>"
                     "<p class='note'>Silhouettes are measured in each configuration's own space, so they do not "
                     "compare across transforms; the rank puts usable configurations first.</p>" + table_html(sets))
    return Section("Algorithm comparison",
                   "The production K-means next to Ward, a Gaussian mixture and two density methods. "
                   "Stability: agreement of refits on fixed-seed subsamples (1 = the same segments every time).",
                   parts)


def segment_drivers(report: Report) -> Section | None:
    if not report.has("segment_feature_importance", "segment_profiles"):
        return None
    frame = report.df("""
        select importance.*, profiles.segment_name
        from segment_feature_importance as importance
        inner join segment_profiles as profiles using (segment_id)
        order by segment_id, feature
    """)
    features = list(dict.fromkeys(frame.sort_values("anova_f", ascending=False, kind="stable").feature))
    names = [name for name in report.segment_names() if name in set(frame.segment_name)]
    effect = frame.pivot(index="segment_name", columns="feature", values="effect_size").reindex(index=names, columns=features)
    limit = float(effect.abs().max().max()) or 1.0
    figure = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.2,
                           subplot_titles=("Effect size per segment (Cohen's d vs other customers)",
                                           "How much each feature separates all segments"))
    figure.add_trace(go.Heatmap(z=effect.values, x=features, y=names, zmin=-limit, zmax=limit, colorscale="RdBu_r",
                                text=effect.map(lambda v: f"{v:+.2f}").values, texttemplate="%{text}",
                                colorbar={"title": "d", "x": 0.5, "len": 0.9},
                                hovertemplate="%{y} · %{x}: d = %{z:.2f}<extra></extra>"), row=1, col=1)
    overall = frame.drop_duplicates("feature").set_index("feature").reindex(features)
    for column, title, colour in (("eta_squared", "η² (variance explained)", "#0072B2"),
                                  ("surrogate_tree_importance", "surrogate tree importance", "#E69F00")):
        figure.add_trace(go.Bar(x=features, y=overall[column], name=title, marker_color=colour,
                                texttemplate="%{y:.2f}", textposition="outside"), row=1, col=2)
    figure.update_yaxes(autorange="reversed", title_text="segment", row=1, col=1)
    figure.update_yaxes(range=[0, 1.15], title_text="share (0 to 1)", row=1, col=2)
    figure.update_xaxes(title_text="feature")
    figure.update_layout(barmode="group", legend={"orientation": "h", "x": 0.62, "y": -0.15})
    drivers = report.in_value_order(frame.loc[frame.is_top_driver])
    lines = "".join(
        f"<li><b>{html.escape(row.segment_name)}</b>: {html.escape(row.feature)} "
        f"{'higher' if row.effect_size > 0 else 'lower'} than other customers (d = {row.effect_size:+.2f})</li>"
        for row in drivers.itertuples())
    fidelity = overall.surrogate_tree_fidelity.iloc[0]
    return Section("What separates the segments",
                   "Red: the segment's customers have higher values than the others, blue: lower (for recency, "
                   f"higher = longer ago). A depth-{int(overall.surrogate_tree_depth.iloc[0])} decision tree "
                   f"reproduces {fidelity:.0%} of the segment assignments.",
                   [report.chart(figure, height=max(380, 60 * len(names) + 160)),
                    f"<p>What drives each segment most:</p><ul>{lines}</ul>"])


def classifier_performance(report: Report) -> Section | None:
    if not report.has("segment_classifier_evaluation"):
        return None
    overall = report.df("""
        select model_name, evaluation, split, cast(customers as bigint) as customers, accuracy, balanced_accuracy,
               macro_f1
        from segment_classifier_evaluation
        where metric_scope = 'overall'
        order by model_name = 'majority_baseline' desc, model_name, evaluation desc, split
    """)
    where = {("time_split", "test"): "time split · later customers", ("cross_validation", "test"): "5-fold cross-validation",
             ("time_split", "train"): "time split · training (in-sample)"}
    overall["where"] = [where.get((e, s), f"{e} · {s}") for e, s in zip(overall.evaluation, overall.split)]
    colours = {"majority_baseline": "#999999", "logistic_regression": "#0072B2", "hist_gradient_boosting": "#E69F00"}
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Balanced accuracy", "Macro F1"))
    for col, metric in enumerate(("balanced_accuracy", "macro_f1"), start=1):
        for model, part in overall.groupby("model_name", sort=False):
            figure.add_trace(go.Bar(name=model, x=part["where"], y=part[metric], legendgroup=model, showlegend=col == 1,
                                    marker_color=colours.get(model), texttemplate="%{y:.2f}", textposition="outside",
                                    customdata=part.customers,
                                    hovertemplate=model + " · %{x}: %{y:.3f} (%{customdata} customers)<extra></extra>"),
                             row=1, col=col)
    figure.update_yaxes(range=[0, 1.1], title_text="balanced accuracy", row=1, col=1)
    figure.update_yaxes(range=[0, 1.1], title_text="macro F1", row=1, col=2)
    figure.update_xaxes(title_text="evaluation")
    figure.update_layout(barmode="group", title="Segment predicted from the first purchase, against the majority baseline (grey)",
                         legend={"orientation": "h", "y": -0.15})
    parts = [report.chart(figure, height=460), table_html(overall.drop(columns="where"))]
    if report.has("segment_classifier_confusion", "segment_classifier_model"):
        parts.append(confusion_matrices(report))
    return Section("Predicting the segment from the first purchase",
                   "Can the segment a customer's first horizon falls in (their RFM as of the end of the same "
                   "horizon new_customer_predictions predicts) be told from their first invoice alone? Only "
                   "customers whose horizon lies inside the data are labelled. Each classifier is compared with "
                   "always predicting the most common segment; the time-split test customers (first purchase "
                   "after the cutoff) are the honest estimate for new customers.", parts)


def new_customer_evaluation(report: Report) -> Section | None:
    if not report.has("new_customer_prediction_evaluation"):
        return None
    evaluation = report.df("""
        select method, split, cast(customers as bigint) as customers, horizon_days, purchases_mae, purchases_rmse,
               purchases_aggregate_error, spend_mae, spend_rmse, spend_aggregate_error, repeat_brier_score, repeat_auc
        from new_customer_prediction_evaluation
        order by split = 'test' desc, method
    """)
    if evaluation.empty:
        return None
    test = evaluation.loc[evaluation.split == "test"]
    panels = (("purchases_mae", "Purchases MAE", "purchases per customer", "%{y:.3g}"),
              ("spend_mae", "Spend MAE", formats.money_title("spend per customer"),
               f"{formats.CURRENCY}%{{y:{formats.PLOTLY_MONEY}}}"),
              ("repeat_brier_score", "Repeat Brier score", "Brier score", "%{y:.3g}"))
    figure = make_subplots(rows=1, cols=3, subplot_titles=[title for _, title, _, _ in panels])
    for col, (metric, _, axis_title, text) in enumerate(panels, start=1):
        figure.add_trace(go.Bar(x=test["method"], y=test[metric], showlegend=False, texttemplate=text,
                                textposition="outside", marker_color="#0072B2"), row=1, col=col)
        figure.update_yaxes(title_text=axis_title, row=1, col=col)
    figure.update_xaxes(title_text="method")
    figure.update_layout(title="A new customer's horizon predicted from the first invoice: test customers (lower is better)")
    horizon = int(evaluation.horizon_days.iloc[0])
    return Section("A new customer's next purchases from the first invoice",
                   f"Purchases after the first invoice, net spend and the chance of buying again within {horizon} "
                   "days, predicted from the first invoice alone, against two baselines (the training mean and "
                   "basket value alone). Fitted on customers first buying before the cutoff; tested on later "
                   "ones, every horizon whole inside the data.", [report.chart(figure, height=420), table_html(
                       evaluation, money=("spend_mae", "spend_rmse"))])


def confusion_matrices(report: Report) -> str:
    """Heatmaps of actual vs predicted segment for the classifier the build chose and saved
    (segment_classifier_model, chosen by prediction.first_purchase.select_model): the report does not choose again."""
    model = report.df("select model_name from segment_classifier_model").model_name.iloc[0]
    frame = report.df(f"""
        select evaluation, actual_segment_id, actual_segment_name, predicted_segment_id, predicted_segment_name,
               customers, share_of_actual_segment
        from segment_classifier_confusion
        where model_name = {sql_literal(model)} and split = 'test'
        order by evaluation, actual_segment_id, predicted_segment_id
    """)
    evaluations = list(dict.fromkeys(frame.evaluation))
    figure = make_subplots(rows=1, cols=len(evaluations), horizontal_spacing=0.2,
                           subplot_titles=[f"{where}: {int(frame.loc[frame.evaluation == e].customers.sum()):,} customers"
                                           for e, where in ((e, e.replace("_", " ")) for e in evaluations)])
    for col, evaluation in enumerate(evaluations, start=1):
        part = frame.loc[frame.evaluation == evaluation]
        share = part.pivot(index="actual_segment_name", columns="predicted_segment_name", values="share_of_actual_segment")
        count = part.pivot(index="actual_segment_name", columns="predicted_segment_name", values="customers")
        present = set(part.actual_segment_name) | set(part.predicted_segment_name)
        names = [name for name in report.segment_names() if name in present]
        share, count = share.reindex(index=names, columns=names), count.reindex(index=names, columns=names)
        figure.add_trace(go.Heatmap(z=share.fillna(0).values, x=names, y=names, zmin=0, zmax=1, colorscale="Blues",
                                    showscale=col == 1, colorbar={"title": "share", "tickformat": ".0%"},
                                    text=count.fillna(0).astype(int).values, texttemplate="%{text}",
                                    hovertemplate="actual %{y} → predicted %{x}: %{text} customers (%{z:.0%})<extra></extra>"),
                         row=1, col=col)
        figure.update_xaxes(title_text="predicted", row=1, col=col)
    figure.update_yaxes(autorange="reversed", title_text="actual")
    figure.update_layout(title=f"Confusion matrices of {model} (counts; colour = share of the actual segment)")
    return report.chart(figure, height=460)


def feature_labels(report: Report, features) -> dict[str, str]:
    """A first-purchase feature as a reader names it: ``category_share_6`` -> ``share of basket in Wall / Art /
    Clock`` (the category's name in product_categories), other features as they are."""
    names = {}
    if "product_categories" in report.tables:
        names = dict(report.df("select distinct category_id, category_name from product_categories").itertuples(
            index=False, name=None))
    labels = {}
    for feature in set(features):
        suffix = feature[len(CATEGORY_SHARE_PREFIX):] if feature.startswith(CATEGORY_SHARE_PREFIX) else ""
        labels[feature] = (f"share of basket in {names.get(int(suffix), f'category {suffix}')}" if suffix.isdigit()
                           else feature)
    return labels


def permutation_importance(report: Report) -> Section | None:
    if not report.has("segment_classifier_feature_importance"):
        return None
    frame = report.df("""
        select model_name, feature, importance_mean, importance_std, importance_rank
        from segment_classifier_feature_importance
        where importance_rank <= 12
        order by model_name, importance_rank
    """)
    frame["feature"] = frame.feature.map(feature_labels(report, frame.feature))
    models = list(dict.fromkeys(frame.model_name))
    figure = make_subplots(rows=1, cols=len(models), subplot_titles=models, horizontal_spacing=0.22)
    for col, model in enumerate(models, start=1):
        part = frame.loc[frame.model_name == model]
        figure.add_trace(go.Bar(x=part.importance_mean, y=part.feature, orientation="h", showlegend=False,
                                marker_color=PALETTE[col - 1],
                                error_x={"type": "data", "array": part.importance_std, "visible": True},
                                hovertemplate="%{y}: %{x:.3f}<extra></extra>"), row=1, col=col)
        figure.update_yaxes(autorange="reversed", title_text="first-purchase feature",
                            row=1, col=col)
        figure.update_xaxes(title_text="drop in balanced accuracy", row=1, col=col)
    figure.update_layout(title="The 12 most important first-purchase features per classifier")
    return Section("What the first purchase tells (permutation importance)",
                   "How much the balanced accuracy on the time-split test customers drops when one feature's values "
                   "are shuffled (mean of 5 repeats, bar = ± one standard deviation). \"share of basket in C\" is the "
                   "share of the first basket spent in product category C (table product_categories).",
                   [report.chart(figure, height=520)])


def purchase_forecast(report: Report) -> Section | None:
    if not report.has("segment_purchase_forecast", "segment_profiles"):
        return None
    frame = report.df("""
        select
            segment_id, segment_name, customers,
            mean_expected_purchases as expected_purchases,
            mean_expected_spend as expected_spend,
            mean_probability_alive as probability_alive,
            mean_clv as clv,
            total_expected_spend,
            total_clv,
            horizon_days
        from segment_purchase_forecast
    """)
    frame = report.in_value_order(frame)
    horizon = int(frame.horizon_days.max())
    method = report.df("select any_value(method) as method from customer_purchase_forecast").method.iloc[0]
    # P(alive) is published only when the data identifies dropout (build_notes says why it is absent).
    has_alive = frame.probability_alive.notna().any()
    panels = (("expected_purchases", f"Purchases, next {horizon} days", "purchases per customer", "", ".1f"),
              ("expected_spend", f"Spend, next {horizon} days", formats.money_title("spend per customer"),
               formats.CURRENCY, formats.PLOTLY_MONEY),
              *((("probability_alive", "Probability still active", "probability", "", ".1%"),) if has_alive else ()),
              ("clv", "CLV (discounted)", formats.money_title("CLV per customer"), formats.CURRENCY, formats.PLOTLY_MONEY))
    colours = report.segment_colours()
    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=[title for _, title, *_ in panels])
    for col, (metric, title, axis_title, prefix, fmt) in enumerate(panels, start=1):
        figure.add_trace(go.Bar(x=frame.segment_name, y=frame[metric], showlegend=False,
                                marker_color=[colours.get(n) for n in frame.segment_name],
                                texttemplate=f"{prefix}%{{y:{fmt}}}", textposition="outside",
                                hovertemplate=f"%{{x}}: {prefix}%{{y:{fmt}}}<extra>{title}</extra>"), row=1, col=col)
        figure.update_yaxes(title_text=axis_title, tickprefix=prefix, row=1, col=col)
        if metric == "probability_alive":
            figure.update_yaxes(tickformat=".0%", range=[0, 1.15], row=1, col=col)
    figure.update_xaxes(tickangle=-30, title_text="segment")
    figure.update_layout(title=f"Mean per customer of each segment (method {method}, chosen by the backtest)")
    table = frame.drop(columns=["segment_id", "horizon_days"] + ([] if has_alive else ["probability_alive"]))
    table = table.rename(columns={
        "segment_name": "Segment", "customers": "Customers", "expected_purchases": "Mean purchases",
        "expected_spend": formats.money_title("Mean spend"), "probability_alive": "Mean P(active)",
        "clv": formats.money_title("Mean CLV"), "total_expected_spend": formats.money_title(f"Total spend, next {horizon} days"),
        "total_clv": formats.money_title("Total CLV")})
    alive = ("" if has_alive else " No probability of being still active is shown: the data does not identify "
             "BG/NBD's dropout (build_notes says why).")
    return Section("Purchase forecast",
                   f"Expected purchase invoices and net spend per customer from {method}, the method with the best "
                   "backtest, and the discounted customer lifetime value, averaged per segment." + alive + " "
                   + VALUE_ORDER_TEXT,
                   [report.chart(figure, height=460), table_html(table, float_digits=2)])


#: How the report names the backtest's methods.
METHOD_LABELS = {"bg_nbd": "BG/NBD + Gamma-Gamma", "poisson_regression": "Poisson regression",
                 "naive_past_rate": "naive past rate", "previous_window": "previous window"}


def forecast_backtest(report: Report) -> Section | None:
    """Model diagnostics: every method and baseline at every backtest origin, counts and spend."""
    if not report.has("forecast_backtest_evaluation"):
        return None
    frame = report.df("select * from forecast_backtest_evaluation order by origin_date, method")
    frame["origin"] = frame.origin_date.dt.strftime("%Y-%m-%d")
    chosen = frame.loc[frame.is_chosen_method, "method"].iloc[0]
    panels = (("purchases_mae", "Purchases: MAE per customer ↓", ".2f", "purchases"),
              ("purchases_rmse", "Purchases: RMSE per customer ↓", ".2f", "purchases"),
              ("spend_mae", "Spend: MAE per customer ↓", ",.2f", formats.money_title("spend")),
              ("purchases_aggregate_error", "Total purchases: relative error", ".1%", "relative error"))
    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=[title for _, title, _, _ in panels])
    for col, (_, _, _, axis_title) in enumerate(panels, start=1):
        figure.update_yaxes(title_text=axis_title, row=1, col=col)
    figure.update_xaxes(title_text="backtest origin")
    for i, method in enumerate(m for m in METHOD_LABELS if m in set(frame.method)):
        rows = frame.loc[frame.method == method]
        for col, (metric, title, fmt, _) in enumerate(panels, start=1):
            figure.add_trace(go.Bar(x=rows.origin, y=rows[metric], name=METHOD_LABELS[method], showlegend=col == 1,
                                    legendgroup=method, marker_color=PALETTE[i % len(PALETTE)],
                                    hovertemplate=f"{METHOD_LABELS[method]} at %{{x}}: %{{y:{fmt}}}<extra>{title}</extra>"),
                             row=1, col=col)
    figure.update_yaxes(tickformat=".0%", row=1, col=4)
    figure.update_layout(barmode="group", title="Backtest: each method at each origin (the horizon after it)")
    columns = ["origin", "method", "horizon_days", "customers", "purchases_mae", "purchases_rmse",
               "purchases_aggregate_error", "purchases_band_coverage", "spend_mae", "spend_rmse", "actual_spend",
               "predicted_spend", "spend_aggregate_error", "mean_purchases_mae", "is_chosen_method"]
    return Section("Forecast backtest",
                   f"Each method predicted every customer's purchase invoices and net spend over the "
                   f"{int(frame.horizon_days.iloc[0])} days after each origin from what was known before it. The "
                   f"build uses the method with the lowest mean purchases MAE over the origins: {chosen} "
                   f"({METHOD_LABELS.get(chosen, chosen)}). Band coverage is the share of customers whose purchases "
                   "fell in the 10-90% band (0.8 when calibrated).",
                   [report.chart(figure, height=460), table_html(
                       frame.loc[:, columns], money=("spend_mae", "spend_rmse", "actual_spend", "predicted_spend"))])
