/**
 * The essence of a Content-Type header as Fetch and browsers read it: `type/subtype`, lowercased,
 * with only HTTP whitespace (tab, LF, CR, space) trimmed. Not String#trim, which also strips
 * Unicode spaces (U+00A0, U+2028…): "application/x-www-form-urlencoded\u00a0" is not a form to a
 * browser or to undici's body parser, so it must not be one here either.
 */
export function mediaTypeEssence(header: string | null | undefined): string {
  if (typeof header !== 'string') return '';
  const type = header.split(';', 1)[0] ?? '';
  return type.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '').toLowerCase();
}
