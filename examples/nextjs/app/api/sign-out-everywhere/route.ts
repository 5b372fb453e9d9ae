import { auth } from '../../../lib/auth';

// Signed-in form post: auth.handler has already checked the origin and the form token.
export const POST = auth.handler(
  async (_request, ctx) => {
    await ctx.signOutEverywhere();
    return new Response(null, { status: 303, headers: { location: '/login' } });
  },
  { requireAuth: true },
);
