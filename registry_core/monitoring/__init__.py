"""Data quality and monitoring: training-data profiles, drift, prediction logs and live quality."""
