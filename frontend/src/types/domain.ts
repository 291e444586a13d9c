/** Types of the API, from the generated OpenAPI schema plus the annotation contract not yet in it. */
import type { components } from "@/types/api";

export type Project = components["schemas"]["Project"];
export type Case = components["schemas"]["Case"];
export type Volume = components["schemas"]["Volume"];
export type Job = components["schemas"]["Job"];

export interface Structure {
  value: number;
  name: string;
  color: string;
}

export interface Me {
  username: string;
  is_staff: boolean;
  roles: Record<string, string>;
}

export interface Page<T> {
  count: number;
  results: T[];
}

export type Draft = components["schemas"]["Draft"];
export type LabelVersion = components["schemas"]["LabelVersion"];
export type NextCase = components["schemas"]["NextCase"];
export type AdjudicationMethod = components["schemas"]["MethodEnum"];

// --- active learning (GET/PATCH /api/projects/{slug}/learning/, typed by hand: the schema says "object")
export type ModelStatus = components["schemas"]["ModelVersionStatusEnum"];
export type ModelKind = components["schemas"]["Kind011Enum"];

export interface ModelMetrics {
  val_dice?: number;
  train_val_dice?: number;
  [key: string]: unknown;
}

export interface ModelVersion extends Omit<components["schemas"]["ModelVersion"], "metrics"> {
  metrics: ModelMetrics;
}

export interface AcquisitionPolicy {
  strategy: "uncertainty_diversity" | "uncertainty" | "diversity" | "typical" | "random";
  method: "weighted" | "borda";
  weights: Record<string, number>;
  batch: number;
}

export interface RetrainPolicy {
  retrain_cron: string;
  retrain_after_consensus: number;
  train_config: unknown;
  /** why the stored train_config no longer fits the project's volumes; null when it fits */
  train_config_problem: string | null;
  validation_case_ids: number[];
  acquisition: AcquisitionPolicy;
}

export interface CurvePoint {
  n_labelled: number;
  model_version: number;
  val_dice: number;
  promoted: boolean;
  at: string;
}

export interface AuditComparison {
  attribute: string;
  group_a: string;
  group_b: string;
  n_a: number;
  n_b: number;
  mean_a: number;
  mean_b: number;
  /** RCA-estimated ΔDSC (a − b) with its confidence interval and permutation p-value */
  delta: number;
  ci_low: number;
  ci_high: number;
  p_value: number;
  /** the same from true Dice, where reference labels exist */
  true_delta?: number | null;
  true_ci_low?: number | null;
  true_ci_high?: number | null;
  true_p_value?: number | null;
}

export interface BiasAudit {
  id: number;
  model_version: number;
  created_at: string;
  comparisons: AuditComparison[];
  n_boot: number;
  n_perm: number;
  confidence: number;
  per_case: { case_id: number; rca_dice: number; true_dice: number | null; attributes: Record<string, unknown> }[];
}

export interface CaseModelScore {
  case_id: number;
  model_version: number;
  mc_entropy?: number;
  ood_mahalanobis?: number;
}

export interface LearningState {
  policy: RetrainPolicy;
  training_job: Job | null;
  pending: string[];
  models: ModelVersion[];
  curve: CurvePoint[];
  audits: BiasAudit[];
  scores: CaseModelScore[];
}

/** GET /api/cases/{id}/prediction/ */
export interface CasePrediction {
  model_version: number;
  model_number: number;
  /** path under the case's OME-Zarr group, e.g. "labels/prob-m3": uint8, P(foreground) × probability_scale */
  probability_label: string;
  probability_scale: number;
  segmentation_label: string;
  scores: { mc_entropy?: number; ood_mahalanobis?: number };
}
