"""One row per merchandise stock code: its category learned from its descriptions (customer_segments.categories)."""

from customer_segments.categories import build_product_categories


def model(dbt, session):
    dbt.config(materialized="table")
    # Only product-level rows cross into Python: one row per stock code with its descriptions.
    products = dbt.ref("int_products_described").df()
    overrides = dbt.ref("product_category_overrides").df()
    return build_product_categories(
        products,
        overrides,
        n_categories=int(dbt.config.get("n_product_categories")),
        random_state=int(dbt.config.get("random_state")),
    )
