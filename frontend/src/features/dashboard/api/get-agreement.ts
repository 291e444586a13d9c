import { apiJson } from "@/lib/api-client";

export interface StructureAgreement {
  mean_dice?: number;
  pairwise_dice?: unknown;
  hd95?: number;
  fleiss_kappa?: number;
  staple?: { sensitivity?: Record<string, number> | number[]; specificity?: Record<string, number> | number[] };
}

export interface Agreement {
  structures: Record<string, StructureAgreement>;
  raters: string[];
}

export function getAgreement(caseId: number): Promise<Agreement> {
  return apiJson<Agreement>(`/api/cases/${caseId}/agreement/`);
}
