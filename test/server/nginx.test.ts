import { startNginx } from '../support/nginx.ts';
import { docConfig, forwardAuthContract } from './forward-auth-contract.ts';

// A real nginx (Debian package) in front of a demo upstream, asking Coatcheck's /auth/verify with
// auth_request. The configuration is read from docs/forward-auth.md itself: only its listener,
// host name and ports are replaced by the test's.

forwardAuthContract('nginx auth_request', {
  async start(coatcheck, upstream) {
    const nginx = await startNginx(
      docConfig('nginx', 'nginx', [
        // Plain HTTP on the test's port (fetch cannot set Host, so no server_name match either).
        ['listen 443 ssl;', 'listen 127.0.0.1:{{PORT}};'],
        ['server_name app.example.com;', 'server_name localhost;'],
        ['127.0.0.1:3000', coatcheck],
        ['127.0.0.1:8080', upstream],
      ]),
    );
    return { url: nginx.url, log: () => nginx.errors(), stop: () => nginx.stop() };
  },
  // `return 303 $auth_login_url` (nginx makes it absolute).
  signInRedirectStatus: 303,
});
