import { readBodyLimited } from '../core/body.ts';
import { InvalidInputError } from '../core/errors.ts';
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
