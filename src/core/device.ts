import Bowser from 'bowser';

/** Longest user agent we keep; longer ones are cut (they are shown to users, never trusted). */
export const MAX_USER_AGENT_LENGTH = 512;

/**
 * A readable label for a user agent, e.g. "Chrome 120 on macOS". Never throws: unknown, empty or
 * hostile input yields "Unknown device" or whatever part could be recognised.
 */
export function deviceLabel(userAgent: string | null | undefined): string {
  if (!userAgent) return 'Unknown device';
  try {
    const { browser, os } = Bowser.parse(userAgent.slice(0, MAX_USER_AGENT_LENGTH));
    const name = browser.name ? `${browser.name}${major(browser.version)}` : null;
    if (name && os.name) return `${name} on ${os.name}`;
    return name ?? os.name ?? 'Unknown device';
  } catch {
    return 'Unknown device';
  }
}

function major(version: string | undefined): string {
  const m = version ? /^\d+/.exec(version) : null;
  return m ? ` ${m[0]}` : '';
}
