import { csrfTokenFor } from 'coatcheck';
import { headers } from 'next/headers';
import { redirect } from 'next/navigation';
import { auth } from '../lib/auth';

// The protected page, a server component: the session is read from the store on every request
// (a revoked or expired one is null), and the sign-out form carries the synchronizer token.
export default async function Home() {
  const signedIn = await auth.authenticate(await headers());
  if (!signedIn) redirect('/login');
  return (
    <main>
      <p>
        Signed in as <b>{signedIn.user.email}</b>.
      </p>
      <form method="post" action="/api/sign-out-everywhere">
        <input type="hidden" name="csrf_token" value={csrfTokenFor(signedIn.session)} />
        <button type="submit">Sign out everywhere</button>
      </form>
    </main>
  );
}
