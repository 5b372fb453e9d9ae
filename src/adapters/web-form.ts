import { InvalidInputError, PayloadTooLargeError } from '../core/errors.ts';
import { mediaTypeEssence } from '../core/media-type.ts';

/**
 * Reading a form body from a Web Request with a size limit, so checking a form token never buffers
 * an unbounded body (`request.formData()` alone would). Read once and cached by the caller.
 */

/** The default limit of a form body read by the Web adapter: 64 KiB. */
export const DEFAULT_MAX_FORM_BYTES = 65_536;

const FORM_TYPES = new Set(['application/x-www-form-urlencoded', 'multipart/form-data']);

/** True when the request declares a body `formData()` can parse. */
export function isFormBody(contentType: string | null): boolean {
  return FORM_TYPES.has(mediaTypeEssence(contentType));
}

/**
 * The request's form: 413 PayloadTooLargeError past `limitBytes` (by Content-Length up front, else
 * counted while streaming), 400 InvalidInputError when it is not a readable form.
 */
export async function readFormLimited(request: Request, limitBytes: number): Promise<FormData> {
  const contentType = request.headers.get('content-type');
  if (!isFormBody(contentType)) {
    throw new InvalidInputError([{ field: 'body', message: 'must be a form' }]);
  }
  const bytes = await readBodyLimited(request, limitBytes);
  try {
    return await new Response(bytes, { headers: { 'content-type': contentType ?? '' } }).formData();
  } catch {
    throw new InvalidInputError([{ field: 'body', message: 'must be a well-formed form' }]);
  }
}

/**
 * The request's whole body, or 413 PayloadTooLargeError past `limitBytes`: by Content-Length up
 * front (nothing read), else as soon as more than that has streamed in.
 */
export function readBodyLimited(
  request: Request,
  limitBytes: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (Number(request.headers.get('content-length')) > limitBytes) {
    return Promise.reject(new PayloadTooLargeError(limitBytes));
  }
  return readLimited(request.body, limitBytes);
}

async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<Uint8Array<ArrayBuffer>> {
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel();
        throw new PayloadTooLargeError(limit);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
