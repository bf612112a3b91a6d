"""Deterministic synthetic copy of the UCI "Online Retail" invoice lines with planted customer groups.

The output has the real file's eight columns, types and dirt (cancellations, missing customers,
duplicates, postage/fee codes, zero prices, stock adjustments, messy codes and descriptions) and,
unlike the real file, a known answer: every customer is drawn from one of ``PLANTED_GROUPS`` and the
assignment is returned alongside, so segmentation models can be scored.  Rates of dirt were measured
on the real file (541,909 lines) and are expressed per merchandise line, so they scale with the size.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID",
           "Country")
FORMATS = ("parquet", "csv")
START = np.datetime64("2010-12-01", "m")
N_DAYS = 373                      # 2010-12-01 .. 2011-12-09, the real window
FIRST_INVOICE_NO = 536365
FIRST_CUSTOMER_ID = 12346
UK = "United Kingdom"
_UK_SHARE = 0.88
# Ten largest foreign markets, weighted by their real customer counts.
_FOREIGN = ("Germany", "France", "EIRE", "Spain", "Netherlands", "Belgium", "Switzerland", "Portugal",
            "Australia", "Norway")
_FOREIGN_W = np.array([95, 87, 12, 31, 9, 25, 21, 19, 9, 10], dtype=float)
# Invoices start 07:00-19:59; weights follow the real hourly invoice counts.
_HOUR_W = np.array([1, 6, 18, 30, 32, 40, 34, 31, 31, 20, 12, 3, 2], dtype=float)

# Eight themes (name, median price, nouns).  Every description contains a theme noun, so a later
# step can learn product categories from the text alone.
_THEMES = (
    ("CHRISTMAS", 1.25, "CHRISTMAS BAUBLE|CHRISTMAS TREE DECORATION|ADVENT CALENDAR|CHRISTMAS STOCKING"),
    ("BAGS", 1.95, "JUMBO BAG|LUNCH BAG|SHOPPER BAG|CHARLOTTE BAG|TOTE BAG|WASH BAG"),
    ("CANDLES", 2.1, "T-LIGHT HOLDER|HANGING T-LIGHT HOLDER|SCENTED CANDLE|CANDLE LANTERN|PILLAR CANDLE"),
    ("KITCHEN", 2.5, "MUG|TEACUP AND SAUCER|CAKE CASES|CAKESTAND|TEA TOWEL|JAM JAR"),
    ("CARDS", 0.65, "GREETING CARD|WRAPPING PAPER|GIFT TAG|BIRTHDAY CARD|PAPER NAPKINS|GIFT WRAP"),
    ("GARDEN", 3.75, "GARDEN PLANT POT|WATERING CAN|BIRD HOUSE|GARDEN PLANTER|GARDEN WIND CHIME"),
    ("TOYS", 2.1, "CHILDRENS APRON|TOY SKIPPING ROPE|CHILDRENS JIGSAW|TOY SPINNING TOP|SOFT TOY"),
    ("HOME DECOR", 3.25, "METAL SIGN|WALL CLOCK|PHOTO FRAME|CUSHION COVER|DOORMAT|WALL MIRROR"),
)
_STYLES = ("RED RETROSPOT", "PINK POLKADOT", "BLUE PAISLEY", "IVORY", "WHITE HEART", "GREEN", "VINTAGE",
           "REGENCY", "WOODLAND", "SWEETHEART", "BAROQUE", "SCANDINAVIAN", "FLORAL", "SPACEBOY",
           "DOLLY GIRL", "SKULLS", "ENGLISH ROSE", "PANTRY")
_SIZES = ("", "SMALL ", "LARGE ", "SET OF 3 ")
_LETTERS = np.array(list("ABCDEFGHJKLMNPRSW"))


@dataclass(frozen=True)
class _Profile:
    """How one kind of buyer shops: the four planted customer groups plus anonymous web orders."""

    name: str
    share: float                       # of customers
    invoices: tuple[int, int]          # min/max invoices in the window
    window: tuple[float, float]        # days since START the invoices fall in
    lines_median: float                # basket breadth (lines per invoice)
    qty_median: float                  # basket depth (units per line)
    theme_weights: tuple[float, ...]   # lean towards each of the 8 themes


_PROFILES = (
    _Profile("loyal_high_value", 0.10, (15, 50), (0, N_DAYS), 16, 9, (3, 1, 1.5, 1, .6, .8, .8, 1.5)),
    _Profile("regular_mid_value", 0.30, (4, 12), (0, N_DAYS), 11, 4, (1, 1, 1, 1, 1, 1, 1, 1)),
    _Profile("recent_low_value", 0.30, (1, 3), (N_DAYS - 60, N_DAYS), 6, 3, (.6, 1, 1, 1, 3, .8, 2, 1)),
    _Profile("lapsed_one_timer", 0.30, (1, 2), (0, 120), 7, 3, (.8, 2, 1, 1, 1, 2, 1, 1)),
    _Profile("anonymous", 0.0, (0, 0), (0, N_DAYS), 18, 2, (1, 1, 1, 1, 1, 1, 1, 1)),
)
PLANTED_GROUPS: tuple[str, ...] = tuple(p.name for p in _PROFILES[:4])
_ANON = len(_PROFILES) - 1

# Non-merchandise codes: (code, description, lines per 10k merchandise lines, where they go, median
# price, log-spread of price).  "credit_*" lines get their own cancellation invoice with Quantity -1.
_FEES = (
    ("POST", "POSTAGE", 23, "foreign", 18.0, 0.0),
    ("DOT", "DOTCOM POSTAGE", 13, "anon", 185.0, 0.8),
    ("C2", "CARRIAGE", 2.7, "customer", 50.0, 0.0),
    ("M", "Manual", 6, "any", 3.0, 1.2),
    ("M", "Manual", 4.5, "credit_customer", 5.0, 1.2),
    ("D", "Discount", 1.4, "credit_customer", 20.0, 1.0),
    ("CRUK", "CRUK Commission", 0.3, "credit_customer", 300.0, 0.8),
    ("S", "SAMPLES", 1.2, "credit_anon", 30.0, 1.0),
    ("BANK CHARGES", "Bank Charges", 0.7, "credit_anon", 15.0, 0.0),
    ("AMAZONFEE", "AMAZON FEE", 0.6, "credit_anon", 3000.0, 1.0),
    *((f"gift_0001_{v}", f"Dotcomgiftshop Gift Voucher £{v}.00", 0.2, "anon", round(v / 1.2, 2), 0.0)
      for v in (10, 20, 30, 50)),   # sold net of 20% VAT
)
_ADJUST_NOTES = ("damaged", "damages", "?", "check", "thrown away", "wet damaged", "smashed", "missing",
                 "??", "sold as set on dotcom", "Unsaleable, destroyed.", "crushed")
_NULL, _OWN = -2, -1   # Description override per line: null, or the code's own description


@dataclass(frozen=True)
class GeneratedData:
    """Invoice lines shaped like the real file plus the planted ground truth."""

    lines: pd.DataFrame
    planted_groups: pd.DataFrame


def _count(rate_per_10k: float, n_merch: int) -> int:
    """Lines of a rare kind; at least one so every kind of dirt is present even in tiny data."""
    return max(1, int(round(rate_per_10k * n_merch / 1e4)))


def _open_days() -> np.ndarray:
    """Trading days as offsets from START: the shop never sells on Saturdays and closes over Christmas."""
    days = np.arange(N_DAYS + 1)
    weekday = (days + 2) % 7                     # 2010-12-01 was a Wednesday (Mon=0)
    xmas = (days >= 22) & (days <= 33)           # 2010-12-23 .. 2011-01-03
    return days[(weekday != 5) & ~xmas]


def _timestamps(day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Minutes since START: the next trading day on or after ``day``, at a shop-hours time."""
    open_days = _open_days()
    idx = np.minimum(np.searchsorted(open_days, np.floor(day)), len(open_days) - 1)
    hour = 7 + rng.choice(len(_HOUR_W), size=len(day), p=_HOUR_W / _HOUR_W.sum())
    return open_days[idx] * 1440 + hour * 60 + rng.integers(0, 60, size=len(day))


def _later(ts: np.ndarray, max_days: int, rng: np.random.Generator) -> np.ndarray:
    """A time 1..max_days calendar days after ``ts``, never before it (the window end clips)."""
    return np.maximum(_timestamps(ts // 1440 + rng.integers(1, max_days + 1, size=len(ts)), rng), ts)


def _member(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Vectorised ``key in sorted_keys`` (np.isin would rebuild a hash table on every call)."""
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    return sorted_keys[np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)] == keys


def _make_codes(rng: np.random.Generator, n_products: int = 520) -> pd.DataFrame:
    """Product catalogue (themed descriptions, fixed base prices) followed by the fee codes."""
    theme = np.arange(n_products) % len(_THEMES)
    desc = np.empty(n_products, dtype=object)
    for t, (_, _, nouns) in enumerate(_THEMES):
        nouns, mine = nouns.split("|"), np.flatnonzero(theme == t)
        combo = rng.choice(len(_SIZES) * len(_STYLES) * len(nouns), size=len(mine), replace=False)
        size, rest = np.divmod(combo, len(_STYLES) * len(nouns))
        style, noun = np.divmod(rest, len(nouns))
        desc[mine] = [f"{_SIZES[a]}{_STYLES[b]} {nouns[c]}" for a, b, c in zip(size, style, noun)]
    # The real file keeps a trailing (rarely a leading) space on some products' text.
    pad = rng.random(n_products)
    desc[pad < 0.2] = desc[pad < 0.2] + " "
    desc[pad > 0.995] = " " + desc[pad > 0.995]
    median = np.array([m for _, m, _ in _THEMES])[theme]
    price = np.clip(np.round(median * np.exp(0.55 * rng.standard_normal(n_products)) * 20) / 20, 0.29, 15)
    pricey = rng.random(n_products) < 0.015      # a few cake stands and cabinets
    price[pricey] = rng.integers(16, 300, size=pricey.sum()) + 0.95
    code = rng.choice(np.arange(10002, 90000), size=n_products, replace=False).astype(str).astype(object)
    suffix = rng.random(n_products) < 0.25       # colour variants such as 85123A
    code[suffix] = code[suffix] + _LETTERS[rng.integers(0, len(_LETTERS), suffix.sum())]
    products = pd.DataFrame({"code": code, "description": desc, "price": price, "theme": theme,
                             "popularity": 1.0 / (1 + rng.permutation(n_products)) ** 0.6})
    fees = dict.fromkeys((c, d) for c, d, *_ in _FEES)   # unique, in table order
    extra = pd.DataFrame([*fees, ("B", "Adjust bad debt")], columns=["code", "description"])
    return pd.concat([products, extra.assign(price=0.0, theme=-1, popularity=0.0)], ignore_index=True)


def _invoices(ts: np.ndarray, cust: np.ndarray | int, country: np.ndarray | str, kind: str | list[str],
              profile: np.ndarray | int = -1) -> pd.DataFrame:
    """Invoice table rows; ``cust`` is a customer position (-1: none), ``kind`` '' / 'C' / 'A'."""
    return pd.DataFrame({"ts": ts, "cust": cust, "country": country, "kind": kind, "profile": profile})


def _like(inv: pd.DataFrame, rows: np.ndarray, ts: np.ndarray, anonymous: bool = False) -> pd.DataFrame:
    """Cancellation invoices for the customers (and countries) of invoices ``rows``."""
    if anonymous:
        return _invoices(ts, -1, UK, "C")
    return _invoices(ts, inv["cust"].to_numpy()[rows], inv["country"].to_numpy()[rows], "C")


def _customer_invoices(groups: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Sale invoices of the identified customers, counted and timed by their planted group."""
    n = len(groups)
    lo, hi = (np.array([p.invoices[i] for p in _PROFILES])[groups] for i in (0, 1))
    # u**1.5 skews counts to the low end of each group's range, as real purchase counts are.
    n_inv = lo + np.floor((hi - lo + 1) * rng.random(n) ** 1.5).astype(int)
    cust = np.repeat(np.arange(n), n_inv)
    w0, w1 = (np.array([p.window[i] for p in _PROFILES])[groups[cust]] for i in (0, 1))
    day = w0 + rng.random(len(cust)) * (w1 - w0)
    # Loyal customers are still buying at the end: their first invoice moves into the last fortnight.
    first = np.cumsum(n_inv) - n_inv
    loyal_first = first[groups == 0]
    day[loyal_first] = N_DAYS - 14 * rng.random(len(loyal_first))
    foreign = np.array(_FOREIGN)[rng.choice(len(_FOREIGN), size=n, p=_FOREIGN_W / _FOREIGN_W.sum())]
    country = np.where(rng.random(n) < _UK_SHARE, UK, foreign)
    inv_country = country[cust].astype(object)
    # ~1% of customers also order once from a second country.
    movers = np.flatnonzero(n_inv >= 2)
    movers = rng.choice(movers, size=min(int(0.01 * n), len(movers)), replace=False)
    inv_country[first[movers]] = np.where(country[movers] == UK, "France", UK)
    return _invoices(_timestamps(day, rng), cust, inv_country, "", groups[cust])


def _anonymous_invoices(n_lines: int, rng: np.random.Generator) -> pd.DataFrame:
    """Web-shop orders with no CustomerID, mostly UK, enough for about ``n_lines`` lines."""
    k = max(1, n_lines // 21)                   # ~21 lines per anonymous order
    other = np.array(["EIRE", "Unspecified", "Switzerland"])[rng.integers(0, 3, k)]
    country = np.where(rng.random(k) < 0.97, UK, other).astype(object)
    return _invoices(_timestamps(rng.random(k) * N_DAYS, rng), -1, country, "", _ANON)


def _merch_lines(inv: pd.DataFrame, codes: pd.DataFrame, spend: np.ndarray,
                 rng: np.random.Generator) -> pd.DataFrame:
    """Product lines for sale invoices: breadth, depth and themes follow each invoice's profile."""
    prof = inv["profile"].to_numpy()
    med = np.array([p.lines_median for p in _PROFILES])[prof]
    # At most 56 so that fee lines and duplicates keep invoices within 60 lines.
    n_lines = np.clip(np.round(med * np.exp(0.75 * rng.standard_normal(len(inv)))), 1, 56).astype(int)
    line_inv = np.repeat(np.arange(len(inv)), n_lines)
    line_prof = prof[line_inv]
    products = codes[codes["theme"] >= 0]
    code = np.zeros(len(line_inv), dtype=np.int64)
    for p, profile in enumerate(_PROFILES):   # fixed order keeps the random stream stable
        w = np.array(profile.theme_weights)[products["theme"]] * products["popularity"]
        mine = line_prof == p
        code[mine] = rng.choice(len(products), size=mine.sum(), p=w / w.sum())
    # The same product twice on one invoice would create accidental exact duplicates.
    keep = ~pd.Series(line_inv * len(codes) + code).duplicated().to_numpy()
    line_inv, line_prof, code = line_inv[keep], line_prof[keep], code[keep]
    cust = inv["cust"].to_numpy()[line_inv]
    depth = np.array([p.qty_median for p in _PROFILES])[line_prof] * np.where(cust >= 0, spend[cust], 1.0)
    qty = np.maximum(1, np.round(depth * np.exp(0.7 * rng.standard_normal(len(code)))))
    qty = np.where(qty > 12, np.round(qty / 12) * 12, qty).astype(np.int64)   # trade packs of 12
    # Web-shop (anonymous) prices are higher; trade quantities get a discount.
    price = codes["price"].to_numpy()[code] * np.where(cust < 0, 1.6, 1.0) * np.where(qty >= 24, 0.85, 1.0)
    return pd.DataFrame({"inv": line_inv, "code": code, "qty": qty, "price": np.round(price, 2), "note": _OWN})


def _fee_lines(inv: pd.DataFrame, codes: pd.DataFrame, n_merch: int,
               rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Postage, carriage, manual, discount, commission, fee and voucher lines (see ``_FEES``)."""
    sale, has_cust = inv["kind"].eq(""), inv["cust"].ge(0)
    pools = {"foreign": sale & has_cust & inv["country"].ne(UK), "customer": sale & has_cust,
             "anon": sale & ~has_cust, "any": sale}
    code_of = {c: i for i, c in enumerate(codes["code"])}
    new_inv, lines, n_next = [], [], len(inv)
    for code, _, rate, where, median, spread in _FEES:
        k = _count(rate, n_merch)
        price = np.round(median * np.exp(spread * rng.standard_normal(k)), 2)
        pool = np.flatnonzero(pools[where.removeprefix("credit_")])
        host = rng.choice(pool if len(pool) else np.flatnonzero(sale), size=k)   # tiny data: any sale
        if where.startswith("credit"):
            new_inv.append(_like(inv, host, _later(inv["ts"].to_numpy()[host], 30, rng), where == "credit_anon"))
            target, qty = n_next + np.arange(k), np.full(k, -1)
            n_next += k
        else:
            target, qty = host, np.where(code == "POST", rng.integers(1, 4, k), 1)
        lines.append(pd.DataFrame({"inv": target, "code": code_of[code], "qty": qty, "price": price, "note": _OWN}))
    return pd.concat(new_inv, ignore_index=True), pd.concat(lines, ignore_index=True)


def _refunds(inv: pd.DataFrame, bought: pd.DataFrame, n_products: int, k: int,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Host invoices and products for refunds of purchases made before the window, i.e. of
    products the customer never bought inside it."""
    cust = inv["cust"].to_numpy()
    host = rng.choice(np.flatnonzero((cust >= 0) & inv["kind"].eq("").to_numpy()), size=k)
    seen = np.unique(cust[bought["inv"].to_numpy()] * n_products + bought["code"].to_numpy())
    code = rng.integers(0, n_products, size=k)
    for _ in range(10):   # redraw the ones that collide with a purchase in the window
        clash = _member(cust[host] * n_products + code, seen)
        code[clash] = rng.integers(0, n_products, size=clash.sum())
    fresh = ~_member(cust[host] * n_products + code, seen)   # big buyers may have bought everything
    return host[fresh], code[fresh]


def _cancellations(inv: pd.DataFrame, merch: pd.DataFrame, codes: pd.DataFrame,
                   rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """'C' invoices cancelling earlier purchases of the same customer and code (full, partial,
    more than bought, or in two goes) and refunding purchases from before the window."""
    inv_ts = inv["ts"].to_numpy()
    bought = merch[inv["cust"].to_numpy()[merch["inv"]] >= 0]
    picked = bought.iloc[np.sort(rng.choice(len(bought), size=int(0.014 * len(merch)), replace=False))]
    q, src_inv = picked["qty"].to_numpy(), picked["inv"].to_numpy()
    how = rng.choice(4, size=len(q), p=[0.58, 0.22, 0.07, 0.13])   # full, partial, larger, twice
    first_q = np.select([how == 1, how == 2, how == 3],
                        [rng.integers(1, np.maximum(q, 2)), q + rng.integers(1, q + 1), np.ceil(q / 2)], q)
    twice = how == 3
    # One cancellation invoice per source invoice (~1% keyed in the same minute); the second
    # half of a two-step cancellation comes on a later one.
    src, batch = np.unique(src_inv, return_inverse=True)
    c_ts = np.where(rng.random(len(src)) < 0.01, inv_ts[src], _later(inv_ts[src], 40, rng))
    src2, batch2 = np.unique(src_inv[twice], return_inverse=True)
    c2_ts = _later(c_ts[np.searchsorted(src, src2)], 20, rng)
    n_products = int((codes["theme"] >= 0).sum())
    ref_host, ref_code = _refunds(inv, bought, n_products, int(0.002 * len(merch)) + 1, rng)
    ref_qty = np.maximum(1, np.round(np.exp(2.2 + 0.9 * rng.standard_normal(len(ref_host)))))
    invoices = pd.concat([_like(inv, src, c_ts), _like(inv, src2, c2_ts),
                          _like(inv, ref_host, _later(inv_ts[ref_host], 60, rng))], ignore_index=True)
    n0, n1 = len(inv), len(inv) + len(src)
    lines = pd.DataFrame({
        "inv": np.concatenate([n0 + batch, n1 + batch2, n1 + len(src2) + np.arange(len(ref_host))]),
        "code": np.concatenate([picked["code"], picked["code"].to_numpy()[twice], ref_code]),
        "qty": -np.concatenate([first_q, np.maximum(q[twice] - first_q[twice], 1), ref_qty]).astype(np.int64),
        "price": np.concatenate([picked["price"], picked["price"].to_numpy()[twice],
                                 codes["price"].to_numpy()[ref_code]]),
        "note": _OWN})
    return invoices, lines


def _stock_adjustments(first_inv: int, codes: pd.DataFrame, n_merch: int,
                       rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Warehouse lines (no customer, price 0; negative ones are write-offs) and the bad-debt pair."""
    n_neg, n_pos = _count(25, n_merch), _count(17, n_merch)
    k = n_neg + n_pos
    qty = np.round(np.exp(2.5 + 1.1 * rng.standard_normal(k))).astype(np.int64) + 1
    qty[:n_neg] *= -1
    # Write-offs carry a note or no text; found stock has no text, as in the real file.
    note = np.where(rng.random(k) < 0.6, _NULL, rng.integers(0, len(_ADJUST_NOTES), size=k))
    note[n_neg:] = _NULL
    n_products = int((codes["theme"] >= 0).sum())
    # Bad debt: an 'A' invoice booking it and one writing it off, a minute apart, no customer.
    bad_ts = (np.datetime64("2011-08-12T14:50", "m") - START).astype(np.int64) + np.arange(2)
    invoices = _invoices(np.r_[_timestamps(rng.random(k) * N_DAYS, rng), bad_ts], -1, UK, [""] * k + ["A", "A"])
    lines = pd.DataFrame({"inv": first_inv + np.arange(k + 2),
                          "code": np.r_[rng.integers(0, n_products, k), [len(codes) - 1] * 2],
                          "qty": np.r_[qty, 1, 1], "price": np.r_[np.zeros(k), 11062.06, -11062.06],
                          "note": np.r_[note, _OWN, _OWN]})
    return invoices, lines


def _assemble(inv: pd.DataFrame, lines: pd.DataFrame, codes: pd.DataFrame, n_merch: int,
              rng: np.random.Generator) -> pd.DataFrame:
    """Number invoices in time order, render the eight columns and add the cosmetic dirt."""
    # Numbers follow time; ties keep creation order so the result is deterministic.
    seq = np.empty(len(inv), dtype=np.int64)
    seq[np.lexsort((np.arange(len(inv)), inv["ts"].to_numpy()))] = np.arange(len(inv))
    lines = lines.iloc[np.argsort(seq[lines["inv"].to_numpy()], kind="stable")]
    li, ci = lines["inv"].to_numpy(), lines["code"].to_numpy()
    kind = inv["kind"].to_numpy().astype(object)
    # A handful of single-line cancellations were keyed with a lowercase 'c'.
    single_c = np.flatnonzero((kind == "C") & (np.bincount(li, minlength=len(inv)) == 1))
    kind[rng.choice(single_c, size=min(5, len(single_c)), replace=False)] = "c"
    number = kind + (FIRST_INVOICE_NO + seq).astype(str).astype(object)

    qty, note, price = lines["qty"].to_numpy(), lines["note"].to_numpy(), lines["price"].to_numpy().copy()
    stock, desc = codes["code"].to_numpy()[ci].copy(), codes["description"].to_numpy()[ci].copy()
    desc[note == _NULL] = None
    desc[note >= 0] = np.array(_ADJUST_NOTES, dtype=object)[note[note >= 0]]
    cust = inv["cust"].to_numpy()[li]
    merch_sale = (codes["theme"].to_numpy()[ci] >= 0) & (kind[li] == "") & (qty > 0)
    pool = np.flatnonzero(merch_sale)

    def pick(k: int, among: np.ndarray = pool) -> np.ndarray:
        return rng.choice(among, size=min(k, len(among)), replace=False)

    # Messy codes: lowercase variant letters (85123a), a stray space, one lowercase manual line.
    lettered = np.flatnonzero(merch_sale & pd.Series(stock).str[-1].str.isalpha().to_numpy())
    for rows, fix in ((pick(_count(36, n_merch), lettered), str.lower),
                      (pick(_count(0.7, n_merch)), lambda s: s + " "),
                      (pick(1, np.flatnonzero(stock == "M")), str.lower)):
        stock[rows] = [fix(s) for s in stock[rows]]
    # Free items on customer orders, five 0.001 and five 3-decimal prices (one draw: no overlap).
    n_free = _count(0.8, n_merch)
    odd = pick(n_free + 10, pool[cust[pool] >= 0])
    price[odd[:n_free]] = 0.0
    price[odd[n_free:n_free + 5]] = 0.001
    price[odd[n_free + 5:]] = np.round(price[odd[n_free + 5:]] + 0.005, 3)
    # Exact duplicates: ~1% of lines repeated in place, a tenth of them twice.
    repeat = np.ones(len(li), dtype=np.int64)
    dup = pick(_count(95, n_merch))
    repeat[dup] = np.where(rng.random(len(dup)) < 0.1, 3, 2)

    def rep(a: np.ndarray) -> np.ndarray:
        return np.repeat(a, repeat)

    return pd.DataFrame({
        "InvoiceNo": pd.Series(rep(number[li]), dtype="str"),
        "StockCode": pd.Series(rep(stock), dtype="str"),
        "Description": pd.Series(rep(desc), dtype="str"),
        "Quantity": rep(qty).astype(np.int64),
        "InvoiceDate": rep(START + inv["ts"].to_numpy()[li].astype("timedelta64[m]")).astype("datetime64[us]"),
        "UnitPrice": rep(price).astype(np.float64),
        "CustomerID": rep(np.where(cust >= 0, cust + FIRST_CUSTOMER_ID, np.nan)).astype(np.float64),
        "Country": pd.Series(rep(inv["country"].to_numpy()[li]), dtype="str"),
    })


def _assign_groups(n_customers: int, rng: np.random.Generator) -> np.ndarray:
    """Planted group index per customer: exact shares (remainder to the 30% groups), shuffled."""
    counts = np.floor(np.array([p.share for p in _PROFILES[:4]]) * n_customers).astype(int)
    counts[1:] += np.bincount(np.arange(n_customers - counts.sum()) % 3, minlength=3)
    return rng.permutation(np.repeat(np.arange(4), counts))


def generate_invoice_lines(n_customers: int = 3000, seed: int = 42) -> GeneratedData:
    """Generate the synthetic invoice lines and the planted customer groups.

    Parameters
    ----------
    n_customers : int
        Number of identified customers (ids 12346 upwards); at least 1 and at most about
        45,000 (invoice numbers must stay 6 digits).
    seed : int
        Seed for ``np.random.default_rng``; equal arguments give equal frames.

    Returns
    -------
    GeneratedData
        ``lines`` with the real file's eight columns and ``planted_groups`` (customer_id,
        planted_group) for every customer present in ``lines``.

    Raises
    ------
    ValueError
        If ``n_customers`` is not an integer >= 1 or needs more than 6-digit invoice numbers.
    """
    if isinstance(n_customers, bool) or not isinstance(n_customers, (int, np.integer)) or n_customers < 1:
        raise ValueError(f"n_customers must be an integer >= 1, got {n_customers!r}")
    rng = np.random.default_rng(seed)
    codes = _make_codes(rng)
    groups = _assign_groups(n_customers, rng)
    spend = np.exp(0.8 * rng.standard_normal(n_customers))   # per-customer depth: groups overlap in spend
    cust_inv = _customer_invoices(groups, rng)
    cust_lines = _merch_lines(cust_inv, codes, spend, rng)
    anon_inv = _anonymous_invoices(len(cust_lines) // 3, rng)   # anonymous: ~25% of all lines
    anon_lines = _merch_lines(anon_inv, codes, spend, rng)
    inv = pd.concat([cust_inv, anon_inv], ignore_index=True)
    merch = pd.concat([cust_lines, anon_lines.assign(inv=anon_lines["inv"] + len(cust_inv))], ignore_index=True)
    lines = [merch]
    # Each step appends invoices after the existing ones; its lines use global invoice positions.
    for step in (lambda i: _fee_lines(i, codes, len(merch), rng),
                 lambda i: _cancellations(i, merch, codes, rng),
                 lambda i: _stock_adjustments(len(i), codes, len(merch), rng)):
        new_inv, new_lines = step(inv)
        inv = pd.concat([inv, new_inv], ignore_index=True)
        lines.append(new_lines)
    if FIRST_INVOICE_NO + len(inv) > 999_999:
        raise ValueError(f"n_customers={n_customers} needs {len(inv)} invoices: too many for 6-digit numbers")
    out = _assemble(inv, pd.concat(lines, ignore_index=True), codes, len(merch), rng)
    ids = np.unique(out["CustomerID"].dropna().to_numpy()).astype(np.int64)
    names = np.array(PLANTED_GROUPS, dtype=object)[groups[ids - FIRST_CUSTOMER_ID]]
    return GeneratedData(lines=out, planted_groups=pd.DataFrame(
        {"customer_id": ids, "planted_group": pd.Series(names, dtype="str")}))


def write_dataset(out_dir: str | Path, n_customers: int = 3000, seed: int = 42,
                  fmt: str = "parquet") -> dict[str, Path]:
    """Generate and write ``invoice_lines.<fmt>`` and ``planted_groups.parquet``.

    Parameters
    ----------
    out_dir : str or Path
        Directory to write into; created if missing.
    n_customers, seed : int
        Passed to :func:`generate_invoice_lines`.
    fmt : {"parquet", "csv"}
        Format of the invoice lines file (the ground truth is always parquet).

    Returns
    -------
    dict of str to Path
        ``{"invoice_lines": ..., "planted_groups": ...}``.
    """
    if fmt not in FORMATS:   # fail before the expensive part
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    data = generate_invoice_lines(n_customers, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"invoice_lines": out / f"invoice_lines.{fmt}", "planted_groups": out / "planted_groups.parquet"}
    # No index and fully determined content make repeated parquet writes byte-identical.
    if fmt == "csv":
        data.lines.to_csv(paths["invoice_lines"], index=False)
    else:
        data.lines.to_parquet(paths["invoice_lines"], index=False)
    data.planted_groups.to_parquet(paths["planted_groups"], index=False)
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code (2 on invalid arguments)."""
    parser = argparse.ArgumentParser(prog="python -m synthetic_shop.generate",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output directory, e.g. data/generated")
    parser.add_argument("--customers", type=int, default=3000, help="number of identified customers")
    parser.add_argument("--seed", type=int, default=42, help="random seed")
    parser.add_argument("--format", dest="fmt", default="parquet", help="parquet (default) or csv")
    args = parser.parse_args(argv)
    try:
        paths = write_dataset(args.out, args.customers, args.seed, args.fmt)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lines_path = paths["invoice_lines"]   # read back one column: the counts are of what was written
    lines = (pd.read_csv(lines_path, usecols=["InvoiceNo"]) if args.fmt == "csv"
             else pd.read_parquet(lines_path, columns=["InvoiceNo"]))
    print(f"wrote {lines_path}: {len(lines)} invoice lines")
    print(f"wrote {paths['planted_groups']}: {len(pd.read_parquet(paths['planted_groups']))} customers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
