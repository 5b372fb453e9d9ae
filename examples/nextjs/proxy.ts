import { type NextRequest, NextResponse } from 'next/server';
import { auth } from './lib/auth';

// Runs before every route: cross-origin protection for every unsafe request (403), and an
// optimistic redirect when there is no session cookie at all. Pages and route handlers still
// validate the session against the store: a cookie being present proves nothing.
export function proxy(request: NextRequest) {
  const refused = auth.checkOrigin(request);
  if (refused) return refused;
  if (request.nextUrl.pathname === '/' && !request.cookies.has(auth.cookieName)) {
    return NextResponse.redirect(new URL('/login', request.url), 303);
  }
  return NextResponse.next();
}

export const config = { matcher: ['/((?!_next/static|_next/image|favicon.ico).*)'] };
