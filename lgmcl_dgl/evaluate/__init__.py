"""Metrics, plots and prediction for fine-tuned runs."""
