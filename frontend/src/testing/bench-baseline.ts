/**
 * Bench baseline: load one .nii.gz into NiiVue the usual way (fetch the whole file, gunzip, parse)
 * and mark the first rendered slice. The URL comes from ?url=; marks: case-open, first-slice.
 */
import { Niivue, SLICE_TYPE } from "@niivue/niivue";

async function run(): Promise<void> {
  const url = new URLSearchParams(location.search).get("url");
  const w = window as unknown as { __bench: { state: string; error?: string } };
  w.__bench = { state: "loading" };
  if (!url) { w.__bench = { state: "error", error: "no ?url=" }; return; }
  const nv = new Niivue({ backColor: [0.07, 0.08, 0.1, 1] });
  await nv.attachToCanvas(document.getElementById("gl") as HTMLCanvasElement);
  nv.setSliceType(SLICE_TYPE.MULTIPLANAR);
  performance.mark("case-open");
  try {
    await nv.loadVolumes([{ url }]);
    requestAnimationFrame(() => { performance.mark("first-slice"); w.__bench.state = "first-slice"; });
  } catch (e) {
    w.__bench = { state: "error", error: String(e) };
  }
}
void run();
