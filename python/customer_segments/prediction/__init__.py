"""Predictions: BG/NBD and Gamma-Gamma forecasts, the first-purchase classifier and scoring new customers."""
