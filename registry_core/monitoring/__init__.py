"""Data quality: profiles of training data, schema checks, drift statistics and their reports."""
