"""Names shared by the SageMaker target tests."""

from __future__ import annotations

from typing import Any

from support.sagemaker_standin import REGION, ROLE

BUCKET = "models"
MODEL = "eyewear"
IMAGE = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/model-registry-serve:1"
SETTINGS: dict[str, Any] = {"target": "sagemaker", "role": ROLE, "image": IMAGE, "s3_bucket": BUCKET}
