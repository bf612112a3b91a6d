"""The k rule does not wobble: the chosen k is the same for random_state 1 .. 10 on the real data (skipped
when absent) and 1 .. 2 on the embedded data (whose chosen k's stability, ARI 0.995, is far from the bar),
the customers in another row order give the build's own table, and each k's stability is known to a
standard error of at most 0.02 (segmentation.stability). The moved real data
(one day, 13 years) is tests/python/test_real_shifted.py's."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import duckdb
import pandas as pd
import pytest

from conftest import SHARD_CPUS
from customer_segments.segmentation.selection import build_k_selection, chosen_k
from customer_segments.segmentation.stability import MAX_STABILITY_SE, STABLE_ARI

pytestmark = pytest.mark.dbt

REAL_SEEDS = range(1, 11)
EMBEDDED_SEEDS = range(1, 3)


def customer_rfm(build) -> pd.DataFrame:
    with duckdb.connect(str(build.db_path), read_only=True) as con:
        return con.sql("select * from customer_rfm").df()


def assert_k_is_stable(build, seeds: range) -> None:
    customers = customer_rfm(build)
    built = build.scalar("select k from segment_k_selection where is_chosen")
    with duckdb.connect(str(build.db_path), read_only=True) as con:
        built_table = con.sql("select * from segment_k_selection order by k").df()
    shuffled = customers.sample(frac=1, random_state=7).reset_index(drop=True)
    # The package computes on one thread (customer_segments/__init__.py): a process per core of the shard
    # (spawned, not forked: the session's background builds run in threads of this process).
    with ProcessPoolExecutor(max_workers=SHARD_CPUS, mp_context=multiprocessing.get_context("spawn")) as pool:
        runs = [pool.submit(build_k_selection, customers, random_state=seed) for seed in seeds]
        in_shuffled_order = pool.submit(build_k_selection, shuffled)
        tables = [run.result() for run in runs]
        in_shuffled_order = in_shuffled_order.result()
    for seed, table in zip(seeds, tables):
        print(seed, table[["k", "bootstrap_mean_ari", "bootstrap_se_ari", "bootstrap_resamples"]].round(3).to_dict("list"))
        assert chosen_k(table) == built, f"random_state {seed}"
        # Every k's stability to 0.02, or every resample it was allowed; the chosen k's clear of the bar.
        assert ((table["bootstrap_se_ari"] <= MAX_STABILITY_SE) | (table["bootstrap_resamples"] == 100)).all()
        chosen = table.loc[table["is_chosen"]].iloc[0]
        assert chosen["bootstrap_ari_low"] > STABLE_ARI
    # The customers in another order give the build's own table (its default seed), value for value.
    in_shuffled_order = in_shuffled_order.sort_values("k").reset_index(drop=True)
    pd.testing.assert_frame_equal(in_shuffled_order[built_table.columns], built_table, check_dtype=False)


def test_k_is_the_same_for_every_seed_on_the_embedded_data(generated_build):
    assert generated_build.scalar("select k from segment_k_selection where is_chosen") == 4
    assert_k_is_stable(generated_build, EMBEDDED_SEEDS)


@pytest.mark.real_data
def test_k_is_the_same_for_every_seed_on_the_real_data(real_build):
    assert real_build.scalar("select k from segment_k_selection where is_chosen") == 5
    assert_k_is_stable(real_build, REAL_SEEDS)
