"""Test doubles and stand-ins shared by every test folder: the GCS emulator, a faulty network, Vertex AI, identity."""
