/** Per-voxel uncertainty of a binary probability map: u = 1 − |2p − 1| (0 where the model is sure, 1 at p = ½). */
export function uncertaintyFromProbability(prob: ArrayLike<number>, scale = 255): Uint8Array {
  const out = new Uint8Array(prob.length);
  // lookup table for the usual uint8 map; generic path otherwise
  if (scale === 255 && prob instanceof Uint8Array) {
    const lut = new Uint8Array(256);
    for (let v = 0; v < 256; v++) lut[v] = Math.round(255 * (1 - Math.abs((2 * v) / 255 - 1)));
    for (let i = 0; i < prob.length; i++) out[i] = lut[prob[i]];
    return out;
  }
  for (let i = 0; i < prob.length; i++) {
    const p = Math.min(1, Math.max(0, prob[i] / scale));
    out[i] = Math.round(255 * (1 - Math.abs(2 * p - 1)));
  }
  return out;
}
