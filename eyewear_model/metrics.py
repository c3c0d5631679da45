"""Classification metrics of predicted probabilities against true labels, in plain NumPy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

# probabilities are clipped before the log so one confident mistake gives a large, finite loss
_EPSILON = 1e-7


class ClassMetrics(BaseModel):
    """One-vs-rest metrics of one class.

    Attributes:
        precision: Of the examples predicted as this class, the share that are (0 when none are predicted).
        recall: Of the examples of this class, the share predicted as it (0 when there are none).
        f1: Harmonic mean of precision and recall (0 when both are 0).
        support: Examples of this class.
        auc: ROC AUC of this class's probability; None when the class is absent or is every example.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    precision: float
    recall: float
    f1: float
    support: int
    auc: float | None


class EvaluationResult(BaseModel):
    """Metrics of a model on a labelled dataset.

    Attributes:
        num_examples: Examples evaluated.
        loss: Mean categorical cross-entropy.
        accuracy: Share of examples whose most probable class is the true one.
        auc: Macro average of the one-vs-rest ROC AUCs over the classes where it is defined; None if none is.
        precision_macro: Unweighted mean of the per-class precisions.
        recall_macro: Unweighted mean of the per-class recalls.
        f1_macro: Unweighted mean of the per-class F1 scores.
        class_names: The classes, in the order of the confusion matrix.
        per_class: Class name to its metrics.
        confusion_matrix: ``confusion_matrix[true][predicted]`` example counts, indexed like `class_names`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_examples: int
    loss: float
    accuracy: float
    auc: float | None
    precision_macro: float
    recall_macro: float
    f1_macro: float
    class_names: list[str]
    per_class: dict[str, ClassMetrics]
    confusion_matrix: list[list[int]]

    def summary(self) -> dict[str, float]:
        """Return the headline metrics as a flat dict (e.g. the ``metrics`` of a registry version).

        Keys: accuracy, auc (only when defined), loss, precision_macro, recall_macro, f1_macro.
        """
        metrics = {
            "accuracy": self.accuracy,
            "loss": self.loss,
            "precision_macro": self.precision_macro,
            "recall_macro": self.recall_macro,
            "f1_macro": self.f1_macro,
        }
        if self.auc is not None:
            metrics["auc"] = self.auc
        return metrics


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, class_names: Sequence[str]
) -> EvaluationResult:
    """Compute every metric of `EvaluationResult`.

    Args:
        labels: True class indices, shape ``[n]``.
        probabilities: Predicted class probabilities, shape ``[n, len(class_names)]``.
        class_names: The classes, in the order of the probability columns.

    Returns:
        The metrics.

    Raises:
        ValueError: the shapes disagree, there are no examples, or a label is out of range.
    """
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    num_classes = len(class_names)
    if labels.ndim != 1 or probabilities.shape != (labels.shape[0], num_classes):
        msg = f"expected labels [n] and probabilities [n, {num_classes}], got {labels.shape} and {probabilities.shape}"
        raise ValueError(msg)
    if labels.size == 0:
        msg = "cannot evaluate on zero examples"
        raise ValueError(msg)
    if labels.min() < 0 or labels.max() >= num_classes:
        msg = f"labels must lie in [0, {num_classes})"
        raise ValueError(msg)

    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    true_positives = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted_counts = confusion.sum(axis=0)
    precision = _safe_divide(true_positives, predicted_counts)
    recall = _safe_divide(true_positives, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    aucs = [_binary_auc(labels == k, probabilities[:, k]) for k in range(num_classes)]
    defined_aucs = [a for a in aucs if a is not None]

    picked = probabilities[np.arange(labels.size), labels]
    return EvaluationResult(
        num_examples=int(labels.size),
        loss=float(-np.mean(np.log(np.clip(picked, _EPSILON, 1.0)))),
        accuracy=float(np.mean(predicted == labels)),
        auc=float(np.mean(defined_aucs)) if defined_aucs else None,
        precision_macro=float(precision.mean()),
        recall_macro=float(recall.mean()),
        f1_macro=float(f1.mean()),
        class_names=list(class_names),
        per_class={
            name: ClassMetrics(
                precision=float(precision[k]),
                recall=float(recall[k]),
                f1=float(f1[k]),
                support=int(support[k]),
                auc=aucs[k],
            )
            for k, name in enumerate(class_names)
        },
        confusion_matrix=confusion.tolist(),
    )


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Divide elementwise, with 0 where the denominator is 0 (the scikit-learn zero_division=0 convention)."""
    result = np.zeros_like(numerator, dtype=np.float64)
    np.divide(numerator, denominator, out=result, where=denominator != 0)
    return result


def _binary_auc(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Return the ROC AUC of `scores` for the boolean `positive`, or None if one side is empty.

    Uses the Mann-Whitney rank statistic with average ranks for ties, which equals the area under the ROC curve.
    """
    num_pos = int(positive.sum())
    num_neg = positive.size - num_pos
    if num_pos == 0 or num_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(scores.size, dtype=np.float64)
    # average rank over each run of tied scores: tied positive/negative pairs count one half
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    run_ranks = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(run_ranks, counts)
    return float((ranks[positive].sum() - num_pos * (num_pos + 1) / 2.0) / (num_pos * num_neg))
