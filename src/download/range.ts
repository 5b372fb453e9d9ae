/**
 * Single byte ranges (RFC 9110 §14). One `bytes=` range is honoured; a list of ranges or a
 * malformed header is ignored and the whole file is sent (§14.2 lets a server ignore Range), so
 * there is never a multipart body to build.
 */

/** What to send for a Range header on a file of `size` bytes. */
export type RangeDecision =
  | { readonly kind: 'full' }
  /** Inclusive byte offsets. */
  | { readonly kind: 'partial'; readonly start: number; readonly end: number }
  /** 416 with `Content-Range: bytes *\/size`. */
  | { readonly kind: 'unsatisfiable' };

const FULL: RangeDecision = Object.freeze({ kind: 'full' });
const UNSATISFIABLE: RangeDecision = Object.freeze({ kind: 'unsatisfiable' });
/** Offsets beyond 15 digits are not real files; such a header is ignored. */
const SINGLE = /^bytes=(\d{0,15})-(\d{0,15})$/i;

/** The decision for `header` (null when absent). Never throws. */
export function decideRange(header: string | null, size: number): RangeDecision {
  if (header === null) return FULL;
  const match = SINGLE.exec(header.trim());
  if (match === null) return FULL;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return FULL;
  if (first === '') {
    // Suffix range: the last N bytes (§14.1.1).
    const length = Number(last);
    if (length === 0 || size === 0) return UNSATISFIABLE;
    return { kind: 'partial', start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return FULL; // invalid: ignored
  if (start >= size) return UNSATISFIABLE;
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  return { kind: 'partial', start, end };
}
