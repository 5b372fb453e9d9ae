import type { Context } from 'hono';
import { asObject } from '../../accounts/input.ts';
import { readBodyLimited } from '../../core/body.ts';
import { InvalidInputError, UnsupportedMediaTypeError } from '../../core/errors.ts';
import { mediaTypeEssence } from '../../core/media-type.ts';

/**
 * Reading a JSON request body, refusing before parsing whatever is not one small JSON object:
 * - 415 unless `Content-Type: application/json` (UTF-8). This also refuses the "simple" content
 *   types a cross-site page can send without a CORS preflight (text/plain, form-urlencoded,
 *   multipart), ASVS 5.0 V3.5.2.
 * - 413 when the body exceeds the limit: by Content-Length up front, else counted while reading
 *   (chunked bodies), so an oversized body is never buffered whole.
 * - 400 `invalid_input` for invalid UTF-8, malformed JSON, or anything but an object.
 * Field types are not checked here: Accounts validates each field and answers 400 for wrong types.
 */

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The body as a plain object (values untrusted), or a 400/413/415 CoatcheckError. */
export async function readJsonBody(
  c: Context,
  limitBytes: number,
): Promise<Record<string, unknown>> {
  if (!isJson(c.req.header('content-type'))) throw new UnsupportedMediaTypeError();
  const bytes = await readBodyLimited(c.req.raw, limitBytes);
  let value: unknown;
  try {
    value = JSON.parse(UTF8.decode(bytes));
  } catch {
    throw bodyIssue('must be valid JSON in UTF-8');
  }
  const object = asObject(value);
  if (object === null) throw bodyIssue('must be a JSON object');
  return object;
}

/** `application/json`, optionally with `charset=utf-8` (RFC 8259 §8.1: JSON is UTF-8). */
function isJson(header: string | undefined): boolean {
  if (header === undefined) return false;
  const [, ...params] = header.split(';');
  if (mediaTypeEssence(header) !== 'application/json') return false;
  return params.every((param) => {
    const [name, value] = param.split('=').map((s) => s.trim().toLowerCase());
    return name !== 'charset' || value === 'utf-8' || value === '"utf-8"';
  });
}

function bodyIssue(message: string): InvalidInputError {
  return new InvalidInputError([{ field: 'body', message }]);
}
