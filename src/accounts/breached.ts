import { createHash } from 'node:crypto';
import { readBodyLimited } from '../core/body.ts';

/**
 * Breached-password screening (ASVS 5.0 V6.2.12, NIST SP 800-63B §3.1.1.2): a new password found
 * in a corpus of breached passwords is refused like a common one.
 */

/** True when `password` appears in a breach corpus. Must not throw: fail open (false) instead. */
export type BreachCheck = (password: string) => Promise<boolean>;

/** Have I Been Pwned's Pwned Passwords range API. */
export const PWNED_PASSWORDS_URL = 'https://api.pwnedpasswords.com/range/';

/** Options of pwnedPasswordsCheck. */
export interface PwnedPasswordsOptions {
  /**
   * The range API: `<url><first 5 hex chars of SHA-1>` answers `SUFFIX:COUNT` lines (a mirror
   * such as haveibeenpwned's PwnedPasswordsDownloader output served over HTTP works too).
   * @default PWNED_PASSWORDS_URL
   */
  url?: string;
  /** Give up after this long and accept the password (fail open). @default 2000 */
  timeoutMs?: number;
  /** Told when the service fails or times out (the password is then accepted). @default none */
  onError?: (error: unknown) => void;
}

/** The largest answer read: a padded range holds ~1,000 lines of ~40 bytes. */
const MAX_RANGE_BYTES = 1 << 20;
const UTF8 = new TextDecoder();

/**
 * Have I Been Pwned's Pwned Passwords range API, by k-anonymity: only the first 5 hex characters
 * of the password's SHA-1 leave the process, with `Add-Padding` so the answer's size says
 * nothing either. A service that fails, times out or answers garbage lets the password through
 * (sign-ups must not depend on a third party being up) and is reported to `onError`.
 */
export function pwnedPasswordsCheck(options: PwnedPasswordsOptions = {}): BreachCheck {
  const url = options.url ?? PWNED_PASSWORDS_URL;
  const timeoutMs = options.timeoutMs ?? 2000;
  return async (password) => {
    // SHA-1 because the corpus is keyed by it; it protects nothing here (only 20 bits are sent).
    const digest = createHash('sha1').update(password, 'utf8').digest('hex').toUpperCase();
    const suffix = digest.slice(5);
    try {
      const response = await fetch(url + digest.slice(0, 5), {
        headers: { 'Add-Padding': 'true' },
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
      if (!response.ok) throw new Error(`breach check: HTTP ${response.status}`);
      const body = UTF8.decode(await readBodyLimited(response, MAX_RANGE_BYTES));
      for (const line of body.split('\n')) {
        const [hashSuffix, count] = line.trim().split(':');
        // Padding lines carry a count of 0: they are not breached passwords.
        if (hashSuffix?.toUpperCase() === suffix && Number(count) > 0) return true;
      }
      return false;
    } catch (error) {
      options.onError?.(error);
      return false;
    }
  };
}
