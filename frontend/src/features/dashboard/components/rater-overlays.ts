import { h } from "@/lib/dom";
import { errorBanner, emptyState } from "@/components/error-banner";
import { getLabelData, getLabels, type LabelVersion } from "@/features/dashboard/api/get-labels";
import { getSlicePng } from "@/features/dashboard/api/get-slice";

const COLORS = ["#ff4d4d", "#4da6ff", "#6dd36d", "#ffb84d", "#c77dff"];

/** Each rater's label over the same axial slice (the one with the most labelled voxels), side by side. */
export async function raterOverlays(caseId: number): Promise<HTMLElement> {
  let versions: LabelVersion[];
  try {
    versions = await getLabels(caseId);
  } catch (e) {
    return errorBanner(`Cannot list this case's labels: ${(e as Error).message}`);
  }
  if (!versions.length) return emptyState("No submitted labels for this case yet.");
  const loaded = await Promise.all(versions.slice(0, 5).map(async (v) => ({ v, ...(await getLabelData(v.id)) })));
  const shape = loaded.find((l) => l.shape)?.shape;
  if (!shape || shape.length !== 3) return emptyState("Labels came without a shape.");
  const [Z, Y, X] = shape;
  const perSlice = new Array(Z).fill(0);
  for (const l of loaded) for (let i = 0; i < l.data.length; i++) if (l.data[i]) perSlice[(i / (X * Y)) | 0]++;
  const z = perSlice.indexOf(Math.max(...perSlice));
  const png = await getSlicePng(caseId, z);
  const tiles = loaded.map((l, k) => {
    const c = h("canvas", { width: X, height: Y, class: "overlay", "aria-label": `Rater ${l.v.rater ?? l.v.id} on slice ${z}` });
    const img = new Image();
    img.onload = () => {
      const ctx = c.getContext("2d")!;
      ctx.drawImage(img, 0, 0, X, Y);
      const im = ctx.getImageData(0, 0, X, Y);
      const col = COLORS[k % COLORS.length];
      const rgb = [1, 3, 5].map((o) => parseInt(col.slice(o, o + 2), 16));
      const off = z * X * Y;
      for (let i = 0; i < X * Y; i++) {
        if (!l.data[off + i]) continue;
        for (let ch = 0; ch < 3; ch++) im.data[i * 4 + ch] = (im.data[i * 4 + ch] + rgb[ch]) >> 1;
      }
      ctx.putImageData(im, 0, 0);
    };
    img.src = png;
    return h("figure", {}, c, h("figcaption", {}, `${l.v.rater ?? "rater"} · v${l.v.number ?? l.v.id}`));
  });
  return h("div", { class: "overlays" }, ...tiles);
}
