"""Campaigns measured: treatment against control per segment, with confidence intervals and p-values."""
