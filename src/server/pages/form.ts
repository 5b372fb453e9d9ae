import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { mediaTypeEssence } from '../../core/media-type.ts';
import type { AppEnv } from '../context.ts';

/**
 * Reading HTML form posts. The JSON API refuses forms with 415 by design; pages accept only
 * `application/x-www-form-urlencoded` (what a `<form method="post">` sends by default), read with
 * a size limit before parsing, and hand back plain strings.
 */

/** Name of the hidden field that carries the synchronizer token on every signed-in form. */
export const CSRF_FIELD = 'csrf_token';

/** The fields of a posted form: each name once (the last value wins), values as strings. */
export type FormFields = Readonly<Record<string, string>>;

/** Why a form could not be read. */
export type FormFailure = 'too_large' | 'unsupported_media_type';

/** The outcome of readForm. */
export type FormRead =
  | { readonly ok: true; readonly fields: FormFields }
  | { readonly ok: false; readonly reason: FormFailure };

const FORM_TYPE = 'application/x-www-form-urlencoded';

/**
 * Reads the urlencoded body of `c`, refusing any other media type and any body over `limitBytes`
 * (by Content-Length when present, else while streaming, before anything is parsed). Never throws
 * on client input; file parts cannot occur, and a non-string value is dropped.
 */
export async function readForm(c: Context<AppEnv>, limitBytes: number): Promise<FormRead> {
  if (mediaTypeEssence(c.req.header('content-type')) !== FORM_TYPE)
    return { ok: false, reason: 'unsupported_media_type' };
  let tooLarge = false;
  const limit = bodyLimit({
    maxSize: limitBytes,
    onError: () => {
      tooLarge = true;
      return c.body(null, 413);
    },
  });
  let fields: FormFields = {};
  await limit(c, async () => {
    // Parsed here rather than by c.req.parseBody(): undici re-parses the Content-Type and throws
    // on parameters it dislikes (a 500); a urlencoded body itself can never fail to parse.
    const strings: Record<string, string> = Object.create(null);
    for (const [name, value] of new URLSearchParams(await c.req.text())) strings[name] = value;
    fields = strings;
  });
  return tooLarge ? { ok: false, reason: 'too_large' } : { ok: true, fields };
}

/** The field's value, or '' when absent: a missing field reads as an empty one. */
export function field(fields: FormFields, name: string): string {
  return Object.hasOwn(fields, name) ? (fields[name] ?? '') : '';
}

/** True when a checkbox was ticked (browsers send a ticked box only, with its value). */
export function checked(fields: FormFields, name: string): boolean {
  return Object.hasOwn(fields, name);
}
