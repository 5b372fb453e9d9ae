import { CoatcheckError, toProblem } from 'coatcheck';
import { auth } from '../../../lib/auth';

// auth.handler: origin check, session, form token and problem+json for refusals; the cookie set by
// ctx.signIn lands on the returned response (never on a 5xx).
export const POST = auth.handler(async (_request, ctx) => {
  const form = await ctx.form(); // read once, size-limited
  try {
    const remember = form.get('remember') === 'on';
    await ctx.signIn({ email: form.get('email'), password: form.get('password'), remember });
  } catch (error) {
    // Wrong password, throttled, locked: say so in words; a store outage stays a 503 problem.
    if (!(error instanceof CoatcheckError) || toProblem(error).status >= 500) throw error;
    const { status, retryAfter } = toProblem(error);
    const message = error.message.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    const body = `<!doctype html><p role="alert">${message}</p><a href="/login">Try again</a>`;
    const headers: Record<string, string> = { 'content-type': 'text/html; charset=utf-8' };
    if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
    return new Response(body, { status, headers });
  }
  return new Response(null, { status: 303, headers: { location: '/' } });
});
