import { apiJson } from "@/lib/api-client";
import type { Job, LearningState, ModelKind, ModelVersion, RetrainPolicy } from "@/types/domain";

const base = (slug: string) => `/api/projects/${encodeURIComponent(slug)}`;

/** Model versions, learning curve, retraining policy, bias audits and case scores (managers). */
export function getLearning(slug: string): Promise<LearningState> {
  return apiJson<LearningState>(`${base(slug)}/learning/`);
}

/** Set the retraining/acquisition policy; ``train_config: {}`` drops the stored training settings (the defaults for the volumes apply). */
export function updatePolicy(slug: string, policy: Partial<Pick<RetrainPolicy, "retrain_cron" | "retrain_after_consensus" | "acquisition" | "train_config">>): Promise<LearningState> {
  return apiJson<LearningState>(`${base(slug)}/learning/`, { method: "PATCH", json: policy });
}

/** Re-score the cases (uncertainty, OOD) and refill the queue. */
export function startScoring(slug: string): Promise<Job> {
  return apiJson<Job>(`${base(slug)}/score/`, { method: "POST" });
}

/** Go back to the previously promoted model version of that kind. */
export function rollback(slug: string, kind: ModelKind = "segmenter"): Promise<ModelVersion> {
  return apiJson<ModelVersion>(`${base(slug)}/rollback/`, { method: "POST", json: { kind } });
}
