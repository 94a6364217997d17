"""Datasets: the BIDS-like layout, checked volume loading, the synthetic cohort, splits and trial lists."""
