import { apiBytes } from "@/lib/api-client";

/** One windowed slice as a PNG blob URL (for the side-by-side overlays). */
export async function getSlicePng(caseId: number, index: number, preset = "lung"): Promise<string> {
  const r = await apiBytes(`/api/cases/${caseId}/slice/`, { query: { axis: "axial", index, format: "png", preset } });
  return URL.createObjectURL(new Blob([r.data], { type: "image/png" }));
}
