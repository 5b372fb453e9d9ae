export default function Login() {
  return (
    <main>
      <form method="post" action="/api/sign-in">
        <label>
          Email <input name="email" type="email" autoComplete="username" required />
        </label>
        <label>
          Password{' '}
          <input name="password" type="password" autoComplete="current-password" required />
        </label>
        <label>
          <input name="remember" type="checkbox" /> Remember me
        </label>
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}
