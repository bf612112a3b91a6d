"""Product categories: normalized words, NMF topics, stable ids and names, seed overrides."""

from __future__ import annotations

import pandas as pd
import pytest

from customer_segments.products.categories import (
    UNCATEGORISED,
    build_product_categories,
    categories_note,
    fit_categories,
    learnable_categories,
    normalize_description,
)

#: Eighteen perfectly separated toy products: NMF reaches the answer but its stopping rule keeps
#: iterating on exact zeros. The real and generated catalogues converge without warning.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

THEMES = {
    "bag": ["JUMBO BAG RED RETROSPOT", "LUNCH BAG PINK POLKADOT", "SHOPPER BAG VINTAGE", "TOTE BAG FLORAL",
            "CHARLOTTE BAG IVORY", "WASH BAG SKULLS", "LUNCH BAG WOODLAND"],
    "candle": ["SCENTED CANDLE ROSE", "PILLAR CANDLE IVORY", "CANDLE LANTERN RED", "SCENTED CANDLE VANILLA",
               "PILLAR CANDLE LARGE"],
    "mug": ["MUG RED RETROSPOT", "MUG VINTAGE", "MUG SPACEBOY", "MUG ENGLISH ROSE", "MUG FLORAL", "MUG SKULLS"],
}
NO_OVERRIDES = pd.DataFrame({"stock_code": pd.Series(dtype=str), "category_name": pd.Series(dtype=str)})


def products() -> pd.DataFrame:
    rows = [(f"{theme[:1].upper()}{i:03d}", text, theme)
            for theme, texts in THEMES.items() for i, text in enumerate(texts)]
    rows.append(("Z999", "?? 123", None))
    return pd.DataFrame(rows, columns=["stock_code", "descriptions", "theme"])


def test_normalization_keeps_what_the_product_is():
    assert normalize_description("JUMBO BAG RED RETROSPOT") == "bag"
    assert normalize_description("SET OF 3 CAKE TINS PANTRY DESIGN") == "cake tins"
    assert normalize_description(None) == ""


def test_each_theme_becomes_one_category_named_by_its_keyword():
    table = build_product_categories(products(), NO_OVERRIDES, n_categories=3)
    themed = table.dropna(subset=["theme"])
    assert themed.groupby("theme")["category_id"].nunique().eq(1).all()
    assert themed.groupby("category_id")["theme"].nunique().eq(1).all()
    for theme, name in themed.groupby("theme")["category_name"].first().items():
        assert name.split(" / ")[0].lower() == theme
    # Ids by size: the bags (7 codes) first, then mugs (6), then candles (5).
    assert themed.groupby("theme")["category_id"].first().to_dict() == {"bag": 1, "mug": 2, "candle": 3}


def test_codes_without_words_are_uncategorised():
    table = build_product_categories(products(), NO_OVERRIDES, n_categories=3)
    row = table.set_index("stock_code").loc["Z999"]
    assert (row["category_id"], row["category_name"], row["category_strength"]) == (0, UNCATEGORISED, 0.0)


def test_same_input_same_output_whatever_the_row_order():
    first = build_product_categories(products(), NO_OVERRIDES, n_categories=3)
    shuffled = build_product_categories(products().sample(frac=1, random_state=7), NO_OVERRIDES, n_categories=3)
    pd.testing.assert_frame_equal(first, shuffled)


def test_overrides_join_a_learned_category_or_create_a_new_one():
    learned = build_product_categories(products(), NO_OVERRIDES, n_categories=3)
    mug_name = learned.loc[learned["theme"] == "mug", "category_name"].iloc[0]
    overrides = pd.DataFrame({"stock_code": ["B000", "C000", "NOT_IN_DATA"],
                              "category_name": [mug_name, "Gifts", "Gifts"]})
    table = build_product_categories(products(), overrides, n_categories=3).set_index("stock_code")
    assert table.loc["B000", "category_name"] == mug_name
    assert table.loc["B000", "category_id"] == learned.loc[learned["theme"] == "mug", "category_id"].iloc[0]
    assert (table.loc["C000", "category_name"], table.loc["C000", "category_id"]) == ("Gifts", 4)
    assert table["is_overridden"].sum() == 2
    assert "NOT_IN_DATA" not in table.index


@pytest.mark.parametrize("change, message", [
    (lambda p, o: (p.drop(columns="descriptions"), o), "missing columns"),
    (lambda p, o: (pd.concat([p, p.head(1)]), o), "one row per stock_code"),
    (lambda p, o: (p, pd.DataFrame({"stock_code": ["A", "A"], "category_name": ["x", "y"]})), "one row per stock_code"),
])
def test_bad_inputs_are_refused_clearly(change, message):
    prods, overrides = change(products(), NO_OVERRIDES)
    with pytest.raises(ValueError, match=message):
        build_product_categories(prods, overrides, n_categories=3)


def test_fitting_more_categories_than_described_products_is_refused():
    documents = [normalize_description(text) for text in products()["descriptions"]]
    with pytest.raises(ValueError, match="n_categories must be between 1 and 18"):
        fit_categories(documents, n_categories=50)


def test_more_categories_than_the_descriptions_hold_are_capped_with_a_note():
    # The table learns what the descriptions can hold rather than failing, and the note says so.
    documents = [normalize_description(text) for text in products()["descriptions"]]
    learnable = learnable_categories(documents, 50)
    table = build_product_categories(products(), NO_OVERRIDES, n_categories=50)
    assert 1 <= learnable <= 18
    assert set(table.loc[table["category_id"] > 0, "category_id"]) <= set(range(1, learnable + 1))
    note = categories_note(products(), 50)
    assert (note.model, note.note) == ("product_categories", "fewer categories")
    assert f"{learnable} categories learned instead of var n_product_categories=50" in note.detail
    assert categories_note(products(), learnable) is None


def test_without_descriptions_every_code_is_uncategorised_with_a_note():
    blank = products().assign(descriptions=None)
    table = build_product_categories(blank, NO_OVERRIDES, n_categories=3)
    assert set(table["category_id"]) == {0} and set(table["category_name"]) == {"Uncategorised"}
    assert categories_note(blank, 3).note == "uncategorised"
