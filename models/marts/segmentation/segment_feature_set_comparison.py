"""One row per feature set x transform: K-means with the chosen k, metrics, outlier check and
bootstrap stability, ranked (customer_segments.comparison)."""

from customer_segments.comparison import build_feature_set_comparison
from customer_segments.settings import chosen_k, comparison_settings, read_planted_groups


def model(dbt, session):
    dbt.config(materialized="table")
    customers = dbt.ref("customer_rfm").df()
    k = chosen_k(dbt.ref("segment_k_selection").df())
    # dbt finds config keys by reading literal dbt.config.get("...") calls, hence one per key.
    config = {
        "random_state": dbt.config.get("random_state"),
        "silhouette_sample_size": dbt.config.get("silhouette_sample_size"),
        "agglomerative_sample_size": dbt.config.get("agglomerative_sample_size"),
        "density_sample_size": dbt.config.get("density_sample_size"),
        "stability_resamples": dbt.config.get("stability_resamples"),
        "stability_sample_size": dbt.config.get("stability_sample_size"),
    }
    planted = read_planted_groups(dbt.config.get("planted_groups_path"), dbt.config.get("transactions_path"))
    return build_feature_set_comparison(customers, comparison_settings(k, config), planted)
