"""Kubeflow Pipelines v2 components: thin adapters over registry_core and the eyewear model.

Every component is a lightweight Python component on the project image (``components.image``), with its
imports inside the function so that it runs the same in the image, in ``kfp.local`` and on Vertex AI.
"""

from components.data import generate_data
from components.deploy import deploy_model
from components.promote import promote_model
from components.register import register_model
from components.rollback import rollback_model
from components.train import train_model
from components.validate import validate_model
from components.validate_data import check_data_validation, validate_data

__all__ = [
    "check_data_validation",
    "deploy_model",
    "generate_data",
    "promote_model",
    "register_model",
    "rollback_model",
    "train_model",
    "validate_data",
    "validate_model",
]
