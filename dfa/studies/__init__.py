"""Studies built on the trainer: noise-impact sweeps (Dask), privacy accounting, their plots."""
