"""Product categories learned from stock-code descriptions: TF-IDF on normalized words, then NMF.

Works on one row per stock code (its descriptions already aggregated in SQL): invoice lines never
reach Python. Deterministic: codes are sorted before fitting and NMF starts from an SVD (nndsvd),
which involves no random draw.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.decomposition import NMF
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from customer_segments.notes import Note

#: Name of the category of codes whose descriptions hold no usable word.
UNCATEGORISED = "Uncategorised"
#: Words that say how a product looks or is packed, not what it is: without them NMF would group
#: "JUMBO BAG RED RETROSPOT" with "RED RETROSPOT MUG" rather than with the other bags.
DESCRIPTIVE_WORDS = frozenset(
    """red pink blue green white black ivory cream gold silver yellow purple orange brown grey
    gray natural pastel pastels polkadot retrospot spotty paisley floral vintage regency woodland
    sweetheart baroque scandinavian spaceboy dolly girl skulls english rose pantry small large
    jumbo mini medium big tiny giant assorted colour colours colours design designs set sets pack
    packs box boxes tier piece pcs""".split()
)
PRODUCT_COLUMNS = ("stock_code", "descriptions")
OVERRIDE_COLUMNS = ("stock_code", "category_name")


def normalize_description(text: str | None) -> str:
    """Lower-case words of three or more letters, without stop and descriptive words.

    >>> normalize_description("JUMBO BAG RED RETROSPOT 3 TIER")
    'bag'
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    words = re.findall(r"[a-z]{3,}", str(text).lower())
    return " ".join(w for w in words if w not in ENGLISH_STOP_WORDS and w not in DESCRIPTIVE_WORDS)


def category_name(top_words: list[str], n_words: int = 3) -> str:
    """A readable name from a category's top keywords, e.g. 'Bag / Lunch / Shopper'."""
    return " / ".join(word.capitalize() for word in top_words[:n_words])


#: A word must appear in this many codes' descriptions to be a TF-IDF term (a word of one code groups nothing).
MIN_CODES_PER_WORD = 2


def learnable_categories(documents: list[str], n_categories: int) -> int:
    """How many categories NMF can learn from the documents: var n_product_categories, capped to the
    codes with words and to the words shared by MIN_CODES_PER_WORD codes (NMF's SVD start needs
    k <= both); 0 when no word is shared, e.g. without descriptions."""
    codes_per_word: dict[str, int] = {}
    for document in documents:
        for word in set(document.split()):
            codes_per_word[word] = codes_per_word.get(word, 0) + 1
    shared_words = sum(count >= MIN_CODES_PER_WORD for count in codes_per_word.values())
    return min(n_categories, sum(bool(document) for document in documents), shared_words)


def categories_note(products: pd.DataFrame, n_categories: int) -> Note | None:
    """The note of product_categories when fewer categories than var n_product_categories can be learned."""
    learnable = learnable_categories([normalize_description(text) for text in products["descriptions"]], n_categories)
    if learnable == n_categories:
        return None
    if learnable == 0:
        return Note("product_categories", "uncategorised",
                    f"no word is shared by the descriptions of {MIN_CODES_PER_WORD} stock codes (column description "
                    "absent or blank, or too few codes): every code is 'Uncategorised' (category_id 0); learning "
                    "categories needs descriptions")
    return Note("product_categories", "fewer categories",
                f"{learnable} categories learned instead of var n_product_categories={n_categories}: the "
                "descriptions hold too few codes with words or words shared by two codes")


def fit_categories(
    documents: list[str], n_categories: int, random_state: int = 42, n_top_words: int = 8
) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """NMF topics over TF-IDF of normalized documents.

    Parameters
    ----------
    documents : one normalized text per product, some possibly empty.
    n_categories : number of NMF components k, 1 <= k <= number of non-empty documents.
    random_state : passed to NMF (only used by solvers that draw; nndsvd initialisation does not).
    n_top_words : keywords kept per category.

    Returns
    -------
    labels : shape (n_documents,), 0..k-1 by strongest component, -1 for empty documents.
    strength : shape (n_documents,), the winning component's share of the row's total weight (0..1).
    top_words : k lists of the highest-weight words of each component.
    """
    non_empty = np.array([bool(doc) for doc in documents])
    if n_categories < 1 or n_categories > int(non_empty.sum()):
        raise ValueError(f"n_categories must be between 1 and {int(non_empty.sum())} (products with words), got {n_categories}")
    vectorizer = TfidfVectorizer(token_pattern=r"[a-z]{3,}", min_df=MIN_CODES_PER_WORD, sublinear_tf=True)
    tfidf = vectorizer.fit_transform([documents[i] for i in np.flatnonzero(non_empty)])
    nmf = NMF(n_components=n_categories, init="nndsvd", random_state=random_state, max_iter=500)
    weights = nmf.fit_transform(tfidf)
    vocabulary = vectorizer.get_feature_names_out()
    top_words = [[str(vocabulary[i]) for i in np.argsort(-component, kind="stable")[:n_top_words]]
                 for component in nmf.components_]
    labels = np.full(len(documents), -1, dtype=np.int64)
    strength = np.zeros(len(documents))
    totals = weights.sum(axis=1)
    # A document whose words all fell below min_df has no weight: it stays uncategorised.
    has_weight = totals > 0
    rows = np.flatnonzero(non_empty)
    labels[rows[has_weight]] = np.argmax(weights[has_weight], axis=1)
    strength[rows[has_weight]] = weights[has_weight].max(axis=1) / totals[has_weight]
    return labels, strength, top_words


def build_product_categories(
    products: pd.DataFrame,
    overrides: pd.DataFrame,
    n_categories: int,
    random_state: int = 42,
) -> pd.DataFrame:
    """The product_categories table: one row per stock code with its category.

    Parameters
    ----------
    products : one row per stock code: ``stock_code``, ``descriptions`` (all its descriptions, any
        separator) and any other columns, which are passed through. Row order does not matter.
    overrides : ``stock_code``, ``category_name``: codes whose category is set by hand. A name that
        matches a learned category joins it; a new name becomes a new category.
    n_categories : number of learned categories.

    Returns
    -------
    DataFrame sorted by stock_code with the input columns plus category_id (learned categories
    1..k by descending number of codes, then override-only categories by name, 0 = uncategorised),
    category_name, category_top_words, category_strength and is_overridden. Fewer learned categories
    than ``n_categories`` when the descriptions cannot hold them (:func:`learnable_categories`).
    """
    for frame, columns, what in ((products, PRODUCT_COLUMNS, "products"), (overrides, OVERRIDE_COLUMNS, "overrides")):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"{what} is missing columns {missing}; have {list(frame.columns)}")
    if products["stock_code"].duplicated().any():
        raise ValueError("products must hold one row per stock_code")
    if overrides["stock_code"].duplicated().any():
        raise ValueError("category overrides must hold one row per stock_code")
    table = products.sort_values("stock_code", kind="stable").reset_index(drop=True)
    documents = [normalize_description(text) for text in table["descriptions"]]
    # Fewer when the descriptions cannot hold n_categories (categories_note says so); none without words.
    n_categories = learnable_categories(documents, n_categories)
    if n_categories:
        labels, strength, top_words = fit_categories(documents, n_categories, random_state)
    else:
        labels, strength, top_words = np.full(len(documents), -1, dtype=np.int64), np.zeros(len(documents)), []

    # Stable ids: biggest learned category first, ties by name.
    names = [category_name(words) for words in top_words]
    sizes = np.bincount(labels[labels >= 0], minlength=n_categories)
    order = sorted(range(n_categories), key=lambda c: (-sizes[c], names[c]))
    learned = pd.DataFrame({
        "category_id": np.arange(1, n_categories + 1),
        "category_name": [names[c] for c in order],
        "category_top_words": [" ".join(top_words[c]) for c in order],
    })
    id_of_label = {c: i + 1 for i, c in enumerate(order)}
    table["category_id"] = [id_of_label.get(int(label), 0) for label in labels]
    table["category_strength"] = strength
    table["is_overridden"] = False

    catalogue = pd.concat([learned, pd.DataFrame({
        "category_id": [0], "category_name": [UNCATEGORISED], "category_top_words": [""],
    })], ignore_index=True)
    override = overrides.loc[overrides["stock_code"].isin(table["stock_code"])]
    new_names = sorted(set(override["category_name"]) - set(catalogue["category_name"]))
    catalogue = pd.concat([catalogue, pd.DataFrame({
        "category_id": np.arange(n_categories + 1, n_categories + 1 + len(new_names)),
        "category_name": new_names,
        "category_top_words": [""] * len(new_names),
    })], ignore_index=True)
    id_of_name = dict(zip(catalogue["category_name"], catalogue["category_id"]))
    forced = table["stock_code"].map(dict(zip(override["stock_code"], override["category_name"])))
    is_forced = forced.notna().to_numpy()
    table.loc[is_forced, "category_id"] = forced[is_forced].map(id_of_name).astype("int64")
    table.loc[is_forced, "category_strength"] = 1.0
    table.loc[is_forced, "is_overridden"] = True

    table = table.merge(catalogue, on="category_id", how="left")
    table["category_id"] = table["category_id"].astype("int64")
    return table.sort_values("stock_code", kind="stable").reset_index(drop=True)
