import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseUrlencoded } from '../../src/server/pages/form.ts';

// The pages' hand-written urlencoded parser (src/server/pages/form.ts) against two references:
// URLSearchParams on every body a browser sends, and the WHATWG algorithm written out byte by byte
// (percent-decode, then a fatal TextDecoder) on hand-made ones. Node's URLSearchParams is not the
// reference there: it reads `%é%41` as "%\uFFFD" + "A" where the standard says "%éA".
// fast-check, fixed seed.

const SEED = 20_260_501;
const encoder = new TextEncoder();
const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** What URLSearchParams reads, the last value of a name winning (as readForm keeps it). */
function lenient(body: string): Record<string, string> {
  return Object.assign(Object.create(null), Object.fromEntries(new URLSearchParams(body)));
}

/** A reference decode of one component into bytes (WHATWG percent-decode), then fatal UTF-8. */
function strictComponent(raw: string): string | null {
  const bytes: number[] = [];
  const input = encoder.encode(raw.replaceAll('+', ' '));
  for (let i = 0; i < input.length; i++) {
    const hex = String.fromCharCode(input[i + 1] ?? 0, input[i + 2] ?? 0);
    if (input[i] === 0x25 && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else bytes.push(input[i] as number);
  }
  try {
    return fatal.decode(new Uint8Array(bytes));
  } catch {
    return null;
  }
}

/** The WHATWG parse with a fatal decoder: null when any name or value is not UTF-8. */
function reference(body: string): Record<string, string> | null {
  const fields: Record<string, string> = Object.create(null);
  for (const pair of body.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = strictComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : strictComponent(pair.slice(eq + 1));
    if (name === null || value === null) return null;
    fields[name] = value;
  }
  return fields;
}

test('reads every UTF-8 form exactly as URLSearchParams does', () => {
  const text = fc.string({ unit: 'grapheme', maxLength: 12 });
  fc.assert(
    fc.property(fc.array(fc.tuple(text, text), { maxLength: 6 }), (pairs) => {
      const body = new URLSearchParams(pairs).toString();
      assert.deepEqual(parseUrlencoded(encoder.encode(body)), lenient(body));
    }),
    { seed: SEED, numRuns: 2000 },
  );
  // Hand-typed bodies a browser never sends: stray `%`, empty pairs, no `=`, lower-case hex, `+`.
  for (const body of ['a=100%&b=%zz&c=%4', '&&a&=b&c==d&', 'n=%e2%9c%93+%2B', '%EF%BB%BFa=1']) {
    assert.deepEqual(parseUrlencoded(encoder.encode(body)), lenient(body), body);
  }
});

test('refuses exactly the bodies whose percent-encoded bytes are not UTF-8, else reads them per WHATWG', () => {
  const byte = fc.integer({ min: 0, max: 255 });
  const piece = fc.oneof(
    byte.map((b) => `%${b.toString(16).padStart(2, '0')}`),
    fc.constantFrom('a', '=', '&', '+', '%', 'é'),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 16 }), (pieces) => {
      const body = pieces.join('');
      assert.deepEqual(parseUrlencoded(encoder.encode(body)), reference(body), body);
    }),
    { seed: SEED, numRuns: 5000 },
  );
});

test('refuses raw bytes that are not UTF-8, and the overlong, surrogate and truncated forms', () => {
  assert.equal(parseUrlencoded(new Uint8Array([0x61, 0x3d, 0xff])), null);
  assert.equal(parseUrlencoded(new Uint8Array([0x61, 0x3d, 0xc3])), null);
  for (const bad of ['%FF', '%C0%80', '%ED%A0%80', '%F4%90%80%80', '%E2%82', '%80']) {
    assert.equal(parseUrlencoded(encoder.encode(`password=x${bad}`)), null, bad);
    assert.equal(parseUrlencoded(encoder.encode(`${bad}=x`)), null, bad);
  }
  assert.deepEqual({ ...parseUrlencoded(encoder.encode('n=a%00b')) }, { n: 'a\u0000b' });
});
