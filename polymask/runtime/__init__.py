"""Where work runs: process and thread pools, Dask clusters, reusable work arrays."""
