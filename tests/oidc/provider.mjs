// A real OpenID Connect provider for the portal's tests: oidc-provider (npm, an OpenID
// Certified implementation) with test clients, accounts and claims from a JSON file.
//
//   node tests/oidc/provider.mjs --port 45123 --config /tmp/provider.json
//
// It listens on 127.0.0.1 only. The issuer is http://127.0.0.1:<port>.
// config: {"clients": [oidc-provider client metadata...],
//          "accounts": {"<login>": {"sub": "...", "email": "...", ...claims}},
//          "idTokenTTL": 3600}
//
// Sign-in: GET /interaction/<uid> shows a form (login name only, no password: test
// accounts); POST /interaction/<uid>/login with `login=<name>` signs that account in.
// Consent is implied (the portal is a first-party client). An unknown login name
// answers 400 and the flow does not complete.
//
// Test controls (this script is for tests only): POST /test-control with JSON
//   {"tamper": "signature" | "claim" | null}  -> the token endpoint's id_token is altered
//       after signing (one flipped byte in the signature, or a payload claim changed
//       while the signature is kept): what a forged or modified token looks like;
//   {"clockOffset": -600}  -> the provider's clock runs that many seconds behind, so the
//       ID tokens it issues have already expired when they arrive.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: { port: { type: 'string' }, config: { type: 'string' } },
});
const port = Number(args.port);
const config = JSON.parse(readFileSync(args.config, 'utf8'));
const issuer = `http://127.0.0.1:${port}`;
const control = { tamper: null, clockOffset: 0 };

const realNow = Date.now;
Date.now = () => realNow() + control.clockOffset * 1000;

const accounts = config.accounts || {};
const bySub = new Map(Object.values(accounts).map((claims) => [claims.sub, claims]));

const provider = new Provider(issuer, {
  clients: config.clients,
  async findAccount(ctx, sub) {
    const claims = bySub.get(sub);
    if (!claims) return undefined;
    return { accountId: sub, async claims() { return { ...claims }; } };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
    roles: ['roles'],
  },
  // Claims go into the ID token itself (the portal reads them from there).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  ttl: {
    IdToken: config.idTokenTTL || 3600,
    AccessToken: 600,
    AuthorizationCode: 60,
    Interaction: 3600,
    Session: 3600,
    Grant: 3600,
  },
  cookies: { keys: ['test-provider-cookie-key'] },
  // First-party client: every requested scope and claim is granted without a consent page.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope || 'openid');
    await grant.save();
    return grant;
  },
});

function flipSignature(jwt) {
  const [header, payload, signature] = jwt.split('.');
  const bytes = Buffer.from(signature, 'base64url');
  bytes[0] ^= 0x01;
  return [header, payload, bytes.toString('base64url')].join('.');
}

function alterClaim(jwt) {
  const [header, payload, signature] = jwt.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  claims.email = 'someone-else@example.org';
  claims.groups = ['portal-admins'];
  const altered = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return [header, altered, signature].join('.');
}

provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token && control.tamper) {
    const alter = control.tamper === 'signature' ? flipSignature : alterClaim;
    ctx.body = { ...ctx.body, id_token: alter(ctx.body.id_token) };
  }
});

const page = (uid, message = '') => `<!doctype html><title>Test provider</title>
<p>${message}</p>
<form method="post" action="/interaction/${uid}/login">
<label>Login <input name="login" autofocus></label><button>Sign in</button></form>`;

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

const callback = provider.callback();
const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    if (url.pathname === '/test-control' && req.method === 'POST') {
      Object.assign(control, JSON.parse(await readBody(req)));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(control));
      return;
    }
    const match = url.pathname.match(/^\/interaction\/([\w-]+)(\/login)?$/);
    if (match) {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name !== 'login') {
        res.writeHead(400).end(`unexpected prompt ${details.prompt.name}`);
        return;
      }
      if (!match[2]) {
        res.writeHead(200, { 'content-type': 'text/html' }).end(page(details.uid));
        return;
      }
      const login = new URLSearchParams(await readBody(req)).get('login');
      const account = accounts[login];
      if (!account) {
        res.writeHead(400, { 'content-type': 'text/html' }).end(page(details.uid, 'Unknown login'));
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: account.sub } }, {
        mergeWithLastSubmission: false,
      });
      return;
    }
    callback(req, res);
  } catch (error) {
    res.writeHead(500).end(String(error));
  }
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`oidc-provider listening on ${issuer}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
