"""Registry tables: model versions with lineage, the per-project learning state (lock, policy,
fixed validation cases) and the learning curve. Weights live in the store; rows publish them."""

from __future__ import annotations

from django.db import models

from core.models import Case, Job, Project


class ModelKind(models.TextChoices):
    SEGMENTER = "segmenter", "Segmenter"
    PULASKI = "pulaski", "PULASki probabilistic U-Net"
    SHAPE_DAE = "shape_dae", "Shape denoising autoencoder"


class ModelStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    PROMOTED = "promoted", "Promoted"
    RETIRED = "retired", "Retired"
    REJECTED = "rejected", "Rejected"


class ModelVersion(models.Model):
    """One trained model: how it was built, on which exact label versions, how well it does."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="model_versions")
    kind = models.CharField(max_length=16, choices=ModelKind.choices, default=ModelKind.SEGMENTER)
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=ModelStatus.choices, default=ModelStatus.CANDIDATE)
    config = models.JSONField(help_text="TrainConfig.to_dict(): architecture and training settings")
    weights_url = models.CharField(max_length=1024)
    weights_sha256 = models.CharField(max_length=64)
    trained_on = models.JSONField(default=list, help_text="label version ids (or case:rater-majority keys)")
    validation_cases = models.JSONField(default=list)
    n_labelled_cases = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL)
    inputs_key = models.CharField(max_length=64, help_text="sha256 of config + training data: same inputs, same version")
    created_at = models.DateTimeField(auto_now_add=True)
    promoted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "kind", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "kind", "number"], name="unique_model_number"),
            models.UniqueConstraint(fields=["project", "kind", "inputs_key"], name="one_model_per_inputs"),
        ]


class ProjectLearning(models.Model):
    """Per project: retraining policy, fixed validation cases, and the training lock."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="learning")
    retrain_cron = models.CharField(max_length=64, blank=True, help_text='crontab "m h dom mon dow"; blank: none')
    retrain_after_consensus = models.PositiveIntegerField(default=0, help_text="retrain after N new labels; 0: off")
    labels_at_last_training = models.PositiveIntegerField(default=0)
    validation_case_ids = models.JSONField(default=list)
    train_config = models.JSONField(default=dict, blank=True, help_text="TrainConfig overrides")
    training_job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    pending_kinds = models.JSONField(default=list, help_text="trainings requested while one ran: queued, not dropped")
    acquisition = models.JSONField(default=dict, blank=True,
                                   help_text="acquisition policy (learning.acquisition.AcquisitionPolicy); {}: defaults")


class CurvePoint(models.Model):
    """One point of the learning curve: labelled cases vs validation metrics of a trained version."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="curve")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE)
    n_labelled = models.PositiveIntegerField()
    metrics = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


class Prediction(models.Model):
    """A model version's output for a case, in the store: probability map and pre-segmentation."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE)
    probability_label = models.CharField(max_length=128, help_text="uint8 label: P(foreground) x 255")
    segmentation_label = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "model_version"], name="one_prediction_per_model")]


class CaseScore(models.Model):
    """What a model version says of a case: uncertainty, OOD distance, estimated quality."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="scores")
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.CASCADE)
    scores = models.JSONField(default=dict, help_text="name -> value (mc_entropy, ood_mahalanobis, ...)")
    combined = models.FloatField(null=True, blank=True, help_text="normalised combination used for the queue")
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "model_version"], name="one_score_per_model")]


class BiasAudit(models.Model):
    """RCA-estimated (and, where labels exist, true) Dice gaps between case subgroups, per model version."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="audits")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="audits")
    result = models.JSONField(help_text="AuditResult.to_dict(): per attribute and group pair, CI and p-value")
    per_case = models.JSONField(default=list, help_text="[{case_id, rca_dice, true_dice, attributes}]")
    created_at = models.DateTimeField(auto_now_add=True)
