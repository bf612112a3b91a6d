"""One row per merchandise stock code: its category learned from its descriptions (customer_segments.products.categories)."""

from customer_segments.products.categories import build_product_categories
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    # Only product-level rows cross into Python: one row per stock code with its descriptions.
    products = dbt.ref("int_products_described").df()
    overrides = dbt.ref("product_category_overrides").df()
    return build_product_categories(
        products,
        overrides,
        n_categories=settings["n_product_categories"],
        random_state=settings["random_state"],
    )
