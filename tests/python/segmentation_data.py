"""Generated customer-level data for the segmentation unit tests (no dbt needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: (recency_days, frequency, monetary) centres of four well separated planted groups.
CENTRES = ((5, 30, 20000.0), (40, 8, 2500.0), (200, 2, 400.0), (20, 1, 120.0))
#: The as-of date the planted customers' first purchases are counted back from.
AS_OF = pd.Timestamp("2011-12-10 09:00")


def planted_customers(per_group: int = 80, seed: int = 0, first_id: int = 10000) -> pd.DataFrame:
    """Customers around CENTRES with log-normal noise, columns of customer_rfm plus planted_group."""
    rng = np.random.default_rng(seed)
    frames = []
    for group, (recency, frequency, monetary) in enumerate(CENTRES):
        frequency_values = np.maximum(1, np.round(rng.lognormal(np.log(frequency), 0.15, per_group)))
        monetary_values = rng.lognormal(np.log(monetary), 0.2, per_group)
        frames.append(pd.DataFrame({
            "recency_days": np.round(rng.lognormal(np.log(recency + 1), 0.15, per_group)),
            "frequency": frequency_values,
            "monetary": monetary_values,
            "avg_order_value": monetary_values / frequency_values,
            "tenure_days": np.round(rng.uniform(200, 370, per_group)),
            "planted_group": f"group_{group}",
        }))
    customers = pd.concat(frames, ignore_index=True)
    customers.insert(0, "customer_id", np.arange(first_id, first_id + len(customers)))
    # As customer_rfm has it: what tells a build that continues these customers' history from another.
    customers["first_purchase_at"] = AS_OF - pd.to_timedelta(customers["tenure_days"], unit="D")
    return customers
