import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { mediaTypeEssence } from '../../core/media-type.ts';
import type { AppEnv } from '../context.ts';

/**
 * Reading HTML form posts. The JSON API refuses forms with 415 by design; pages accept only
 * `application/x-www-form-urlencoded` (what a `<form method="post">` sends by default), read with
 * a size limit before parsing, as UTF-8 only, and hand back plain strings.
 */

/** Name of the hidden field that carries the synchronizer token on every signed-in form. */
export const CSRF_FIELD = 'csrf_token';

/** The fields of a posted form: each name once (the last value wins), values as strings. */
export type FormFields = Readonly<Record<string, string>>;

/** Why a form could not be read. */
export type FormFailure = 'too_large' | 'unsupported_media_type' | 'not_utf8';

/** The outcome of readForm. */
export type FormRead =
  | { readonly ok: true; readonly fields: FormFields }
  | { readonly ok: false; readonly reason: FormFailure };

const FORM_TYPE = 'application/x-www-form-urlencoded';

/**
 * Reads the urlencoded body of `c`, refusing any other media type and any body over `limitBytes`
 * (by Content-Length when present, else while streaming, before anything is parsed) and any body
 * that is not UTF-8. Never throws on client input; a non-string value is dropped.
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
  let fields: FormFields | null = {};
  await limit(c, async () => {
    // Parsed here rather than by c.req.parseBody(): undici re-parses the Content-Type and throws
    // on parameters it dislikes (a 500), and it would turn bytes that are not UTF-8 into U+FFFD.
    fields = parseUrlencoded(new Uint8Array(await c.req.arrayBuffer()));
  });
  if (tooLarge) return { ok: false, reason: 'too_large' };
  if (fields === null) return { ok: false, reason: 'not_utf8' };
  return { ok: true, fields };
}

/** The field's value, or '' when absent: a missing field reads as an empty one. */
export function field(fields: FormFields, name: string): string {
  return Object.hasOwn(fields, name) ? (fields[name] ?? '') : '';
}

/** True when a checkbox was ticked (browsers send a ticked box only, with its value). */
export function checked(fields: FormFields, name: string): boolean {
  return Object.hasOwn(fields, name);
}

// Fatal: bytes that are not UTF-8 throw instead of becoming U+FFFD. ignoreBOM keeps a leading
// U+FEFF as the WHATWG parser does ("UTF-8 decode without BOM").
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const STRAY_PERCENT = /%(?![0-9A-Fa-f]{2})/g;

/**
 * Parses an urlencoded body as the WHATWG URL Standard does (§5.1: split on `&`, then on the first
 * `=`, `+` is a space, percent-decode, UTF-8 decode), except that bytes which are not UTF-8, raw or
 * percent-encoded, make it null instead of U+FFFD. Hand-written because URLSearchParams (and
 * FormData) replace them silently: `%FF` and `%C0%80` would both read as U+FFFD, so passwords
 * differing only there would be one password. Every string returned is well-formed Unicode.
 */
export function parseUrlencoded(bytes: Uint8Array): Record<string, string> | null {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    return null;
  }
  const fields: Record<string, string> = Object.create(null);
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = decodeComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : decodeComponent(pair.slice(eq + 1));
    if (name === null || value === null) return null;
    fields[name] = value;
  }
  return fields;
}

/** One name or value: `+` as space, percent-decoded; null when the bytes are not UTF-8. */
function decodeComponent(raw: string): string | null {
  const spaced = raw.replaceAll('+', ' ');
  if (!spaced.includes('%')) return spaced;
  try {
    // decodeURIComponent throws a URIError on percent-encoded bytes that are not UTF-8
    // (ECMA-262 Decode: overlong forms, surrogates, truncated sequences); a `%` without two hex
    // digits after it stays a literal `%` as in WHATWG, so it is escaped first.
    return decodeURIComponent(spaced.replace(STRAY_PERCENT, '%25'));
  } catch {
    return null;
  }
}
