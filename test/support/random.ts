import type { RandomBytes } from '../../src/core/token.ts';

/** A RandomBytes that hands out the given bytes in order (property tests build tokens from them). */
export function fixedRandom(bytes: Uint8Array): RandomBytes {
  let offset = 0;
  return (size: number) => {
    const out = bytes.subarray(offset, offset + size);
    offset += size;
    return out;
  };
}
