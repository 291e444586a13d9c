/** Window/level presets (Hounsfield units for CT; "auto" uses the volume's robust range, for MRI). */
export interface WindowPreset {
  id: "lung" | "soft_tissue" | "bone" | "auto";
  label: string;
  key: string;
  center?: number;
  width?: number;
}

export const PRESETS: WindowPreset[] = [
  { id: "lung", label: "CT lung", key: "L", center: -600, width: 1500 },
  { id: "soft_tissue", label: "CT soft tissue", key: "S", center: 40, width: 400 },
  { id: "bone", label: "CT bone", key: "B", center: 400, width: 1800 },
  { id: "auto", label: "MRI / auto", key: "A" },
];

export function defaultPreset(modality: string | undefined): WindowPreset["id"] {
  return modality && /^(MR|MRI)$/i.test(modality) ? "auto" : "lung";
}
