"""Self-contained HTML pages of a score and of a dataset's statistics, for people to look at:
charts, sortable tables and pictures of the images that matter, in one file."""
