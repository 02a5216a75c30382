"""Label statistics of a dataset: per-image histograms, totals, class weights, advice."""
