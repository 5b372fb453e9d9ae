/**
 * Confirmations shown after a POST-redirect-GET. The redirect carries only a code (`?notice=…`);
 * the words come from this fixed table, so a crafted link can never put text of its choosing on a
 * page.
 */

/** Every confirmation a page can show, by code. */
export const NOTICES = {
  signed_out: 'You are signed out.',
  welcome: 'Welcome! Your account is ready.',
  password_changed: 'Your password was changed. Every other device was signed out.',
  session_revoked: 'That device was signed out.',
  others_revoked: 'Every other device was signed out.',
  reauthenticated: 'Thanks. You can make account changes for the next few minutes.',
  roles_changed: 'Roles updated.',
  user_locked: 'Account locked. All its sessions have ended.',
  user_unlocked: 'Account unlocked.',
  user_revoked: 'All sessions of that account have ended.',
  everyone_revoked: 'Every other session of every account has ended.',
} as const;

/** A confirmation code. */
export type NoticeCode = keyof typeof NOTICES;

/** The words for a `?notice=` value, or null for an absent or unknown code. */
export function noticeText(code: string | undefined): string | null {
  return code !== undefined && Object.hasOwn(NOTICES, code) ? NOTICES[code as NoticeCode] : null;
}

/** `path` with `notice=code` added to its query. */
export function withNotice(path: string, code: NoticeCode): string {
  return `${path}${path.includes('?') ? '&' : '?'}notice=${code}`;
}
