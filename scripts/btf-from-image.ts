// Finds the kernel's BTF inside an uncompressed arm64 `Image` (Debian's
// /boot/vmlinuz-*-arm64 is one) and writes it as a raw BTF file, which
// `bpftool btf dump file F format c` turns into vmlinux.h. An Image is a flat
// binary with no ELF section table, so the .BTF section is found by its header
// (include/uapi/linux/btf.h: magic 0xeB9F, version 1, 24-byte header, types
// then strings); the largest well-formed candidate is vmlinux's own.
//
//   bun scripts/btf-from-image.ts <Image> <out.btf>
import { readFileSync, renameSync, writeFileSync } from "node:fs";

const [image, out] = process.argv.slice(2);
if (!image || !out) {
  console.error("btf-from-image: usage: bun scripts/btf-from-image.ts <Image> <out.btf>");
  process.exit(2);
}
const bytes = readFileSync(image);
if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
  console.error(`btf-from-image: ${image} is gzip-compressed: decompress it first`);
  process.exit(1);
}
const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
let best: { offset: number; length: number } | undefined;
for (let i = bytes.indexOf(0x9f); i >= 0 && i + 24 <= bytes.length; i = bytes.indexOf(0x9f, i + 1)) {
  if (bytes[i + 1] !== 0xeb || bytes[i + 2] !== 1 || bytes[i + 3] !== 0 || view.getUint32(i + 4, true) !== 24) continue;
  const typeOff = view.getUint32(i + 8, true);
  const typeLen = view.getUint32(i + 12, true);
  const strOff = view.getUint32(i + 16, true);
  const strLen = view.getUint32(i + 20, true);
  if (typeOff !== 0 || strOff !== typeLen || strLen === 0) continue;
  const length = 24 + strOff + strLen;
  if (i + length > bytes.length || bytes[i + 24 + strOff] !== 0 || bytes[i + length - 1] !== 0) continue;
  if (!best || length > best.length) best = { offset: i, length };
}
if (!best) {
  console.error(`btf-from-image: no BTF found in ${image}: the kernel needs CONFIG_DEBUG_INFO_BTF=y`);
  process.exit(1);
}
writeFileSync(`${out}.tmp`, bytes.subarray(best.offset, best.offset + best.length));
renameSync(`${out}.tmp`, out);
console.log(`btf-from-image: ${best.length} bytes of BTF at offset ${best.offset}`);
