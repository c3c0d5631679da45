"""The train-and-register pipeline: its definition, compilation, local runs and submission to Vertex AI Pipelines."""
