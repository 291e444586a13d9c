import { apiJson } from "@/lib/api-client";

/** Per-structure agreement; matrices are rater x rater in the order of `rater_names`. */
export interface StructureAgreement {
  label?: number;
  mean_pairwise_dice?: number;
  mean_dice?: number;
  dice?: number[][];
  hd95_mm?: number[][];
  fleiss_kappa?: number | null;
  krippendorff_alpha?: number | null;
  staple_sensitivity?: number[];
  staple_specificity?: number[];
  volume_mm3?: number[];
}

export interface Agreement {
  structures: Record<string, StructureAgreement>;
  rater_names?: string[];
  raters?: string[];
  mean_dice?: number;
  flagged?: boolean;
  versions?: number[];
  computed_at?: string;
}

/** Agreement between the raters of a case (managers; anyone once closed; 404 for a blinded rater). */
export function getAgreement(caseId: number): Promise<Agreement> {
  return apiJson<Agreement>(`/api/cases/${caseId}/agreement/`);
}
