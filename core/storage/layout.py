"""On-disk layout of Concord arrays: chunk shape, sharding and codecs, chosen by benchmark.

Every codec pipeline ends with zarr v3's ``crc32c`` codec, so each chunk carries its own checksum
and every read checks it (a flipped byte raises instead of returning wrong voxels).
Figures behind the defaults: ``core/storage/CHUNKS.md`` (from ``python bench/slices.py --sweep``
and ``python bench/label_save.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from zarr.codecs import BloscCodec, BloscShuffle, Crc32cCodec, ZstdCodec

__all__ = ["Layout", "IMAGE_LAYOUT", "LABEL_LAYOUT", "MIN_LEVEL_SIZE"]


@dataclass(frozen=True)
class Layout:
    """How one array is cut and compressed.

    Args:
        chunks: chunk shape (Z, Y, X) in voxels; clipped to the array shape per level.
        shards: shard shape (Z, Y, X), a multiple of ``chunks``, or None for one object per chunk.
        codec: "zstd", "blosc-lz4" or "blosc-zstd" (blosc ones with byte shuffle).
        level: compression level (zstd 1..22, blosc 1..9).
    """

    chunks: tuple[int, int, int]
    shards: tuple[int, int, int] | None = None
    codec: str = "zstd"
    level: int = 1

    def compressors(self) -> tuple:
        """Bytes-to-bytes codecs: the compressor, then crc32c (checked first on decode)."""
        if self.codec == "zstd":
            comp = ZstdCodec(level=self.level)
        elif self.codec in ("blosc-lz4", "blosc-zstd"):
            comp = BloscCodec(cname=self.codec[6:], clevel=self.level, shuffle=BloscShuffle.shuffle)
        else:
            raise ValueError(f"unknown codec {self.codec!r}")
        return (comp, Crc32cCodec())

    def for_shape(self, shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
        """Chunk and shard shape clipped to ``shape`` (a coarse level smaller than one chunk)."""
        chunks = tuple(max(1, min(c, s)) for c, s in zip(self.chunks, shape))
        if self.shards is None:
            return chunks, None
        shards = tuple(
            max(c, min(sh, -(-s // c) * c)) for c, sh, s in zip(chunks, self.shards, shape)
        )
        return chunks, shards

    def label(self) -> str:
        sh = "x".join(map(str, self.shards)) if self.shards else "none"
        return f"chunks={'x'.join(map(str, self.chunks))} shards={sh} {self.codec}-{self.level}"


# Images: 64^3 chunks, blosc-lz4 (clevel 5, byte shuffle), no sharding. Sweep on a 512x512x600
# int16 phantom, 2 busy CPU cores (core/storage/CHUNKS.md): slice p50 axial/coronal/sagittal
# 20/28/18 ms (final run: 13/17/17 ms) vs 44/42/47 ms for zstd-1 and 16x256x256 at 8/197/329 ms; real CT stored at 46% of
# raw (zstd-1: 38%, but its decode alone misses 30 ms). Sharding added 10-50% read time and
# disables the direct chunk reader, so it is off; 640 objects of ~0.3 MB per volume suit S3.
IMAGE_LAYOUT = Layout(chunks=(64, 64, 64), shards=None, codec="blosc-lz4", level=5)
# Labels: 1x512x512 chunks, zstd-1. bench/label_save.py --sweep (CHUNKS.md): a full axial plane
# edit of a 512x512x600 label persists in 0.4 ms with the direct writer (zarr's path: 2.5 ms;
# 8x256x256: 23 ms, 64^3: 149 ms; goal 15 ms) vs 358 ms for MONAI Label's whole-label .nii.gz
# rewrite; a 32x32 stroke box on a coronal/sagittal plane costs ~14 ms.
LABEL_LAYOUT = Layout(chunks=(1, 512, 512), shards=None, codec="zstd", level=1)

# Pyramid stops before a level would have an in-plane dimension below this (voxels).
MIN_LEVEL_SIZE = 32
