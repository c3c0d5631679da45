"""Names shared by the KServe target tests."""

MODEL = "eyewear"
