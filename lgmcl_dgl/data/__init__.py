"""Where molecules enter: the dataset registry, CSV loading, splits and artifact files."""
