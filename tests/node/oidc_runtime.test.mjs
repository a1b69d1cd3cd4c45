// SPEC §13 against oidc-provider (an OpenID Provider nobody here wrote), its routes set to
// `/authorize` and `/oauth/token`, client credentials and the claims parameter enabled.
// A client registered through the gateway's strict DCR, and one through a permissive
// tenant's DCR, both widened at the provider to every grant: each request is made through
// the gateway and straight to the provider, so the test shows that the strictness comes
// from modegate. openid-client performs the grants and surfaces the gateway's errors.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import Provider from 'oidc-provider';
import * as client from 'openid-client';

import { freePort, memoryAdapter, metric, startGateway } from './helpers.mjs';

/** oidc-provider behind the gateway, for a tenant with `settings`. */
async function setup(tenant) {
  const gatewayPort = await freePort();
  const providerPort = await freePort();
  const { Adapter, clients } = memoryAdapter();
  const provider = new Provider(`http://localhost:${gatewayPort}`, {
    adapter: Adapter,
    routes: { authorization: '/authorize', token: '/oauth/token' },
    features: {
      registration: { enabled: true },
      clientCredentials: { enabled: true },
      claimsParameter: { enabled: true },
      devInteractions: { enabled: false },
    },
    pkce: { required: () => false },
    scopes: ['openid', 'read'],
    extraClientMetadata: { properties: ['third_party_security_mode'] },
  });
  const server = provider.listen(providerPort, '127.0.0.1');
  const rest = `[routes]\ndcr_paths = ["/reg"]\n\n[clients]\nstore = "memory"\n\n[[customers]]\nid = "cus"\n${tenant.customer ?? ''}\n` +
    `[[tenants]]\nid = "t"\ncustomer = "cus"\nhosts = ["localhost"]\n${tenant.settings}\n`;
  const gateway = await startGateway({ upstreamPort: providerPort, rest, port: gatewayPort });
  const issuer = new URL(`http://localhost:${gatewayPort}`);
  const direct = new URL(`http://127.0.0.1:${providerPort}`);
  const registered = await client.dynamicClientRegistration(
    issuer,
    { redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'client_secret_basic', ...tenant.metadata },
    undefined,
    { execute: [client.allowInsecureRequests] },
  );
  const { client_id: id, client_secret: secret } = registered.clientMetadata();
  // widen the client at the provider: every grant, as a legacy server would allow
  const stored = clients().get(id);
  clients().set(id, {
    ...stored,
    grant_types: ['authorization_code', 'client_credentials', 'implicit'],
    response_types: ['code', 'id_token', 'code id_token'],
  });
  const stop = async () => {
    await gateway.stop();
    server.close();
  };
  return { gateway, issuer, direct, id, secret, stop };
}

/** openid-client's configuration of the client, at `server` (the gateway or the provider). */
async function configure(s, server) {
  const metadata = await (await fetch(new URL('/.well-known/openid-configuration', s.issuer))).json();
  const at = (endpoint) => new URL(new URL(endpoint).pathname, server).href;
  const serverMetadata = { ...metadata, token_endpoint: at(metadata.token_endpoint), authorization_endpoint: at(metadata.authorization_endpoint) };
  const configuration = new client.Configuration(serverMetadata, s.id, s.secret);
  client.allowInsecureRequests(configuration);
  return configuration;
}

/** GET the authorize URL without following the redirect: status and reason. */
async function authorize(s, server, parameters) {
  const configuration = await configure(s, server);
  const url = client.buildAuthorizationUrl(configuration, { redirect_uri: 'https://app.example/cb', scope: 'read', ...parameters });
  const response = await fetch(url, { redirect: 'manual', headers: { host: s.issuer.host } });
  return {
    status: response.status,
    reason: response.headers.get('x-modegate-reason'),
    type: response.headers.get('content-type'),
    // oidc-provider also answers errors with 303: to the client's redirect_uri with `error=`
    accepted: response.status === 303 && !/[?&#]error=/.test(response.headers.get('location') ?? ''),
  };
}

describe('a strict client registered through the gateway', () => {
  let s;
  before(async () => {
    s = await setup({ settings: 'default_api_permissions = [{ audience = "https://api.example", scopes = ["read"] }]' });
  });
  after(async () => s.stop());

  test('client_credentials: the provider grants it, the gateway refuses it', async () => {
    const direct = await client.clientCredentialsGrant(await configure(s, s.direct), { scope: 'read' });
    assert.ok(direct.access_token, 'the provider itself allows the grant');
    await assert.rejects(
      client.clientCredentialsGrant(await configure(s, s.issuer), { scope: 'read' }),
      (error) => error.error === 'unauthorized_client' && /registered dynamically/.test(error.error_description),
    );
    const sample = 'modegate_requests_total{decision="reject",reason="unauthorized_client",route="token"}';
    assert.equal(await metric(s.gateway.admin, sample), 1);
  });

  test('authorize without PKCE or with claims: the provider goes on, the gateway answers 400', async () => {
    const withPkce = { code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' };
    for (const [parameters, reason] of [
      [{}, 'pkce_required'],
      // the claims parameter needs the openid scope at the provider; the allow-list refuses it first
      [{ ...withPkce, scope: 'openid read', claims: '{"id_token":{"email":null}}' }, 'parameter_not_allowed'],
      [{ ...withPkce, scope: 'openid read' }, 'oidc_scope_not_supported'],
    ]) {
      const provider = await authorize(s, s.direct, parameters);
      assert.ok(provider.accepted, `the provider accepts ${JSON.stringify(parameters)}`);
      const gateway = await authorize(s, s.issuer, parameters);
      assert.deepEqual([gateway.status, gateway.reason], [400, reason]);
      assert.match(gateway.type, /^text\/html/);
    }
    const allowed = await authorize(s, s.issuer, withPkce);
    assert.ok(allowed.accepted, 'a compliant request reaches the provider and is accepted');
  });
});

describe('a permissive client registered through the gateway', () => {
  let s;
  before(async () => {
    s = await setup({ customer: 'permissive_eligible = true', settings: 'dcr_security_mode = "permissive"' });
  });
  after(async () => s.stop());

  test('the same requests reach the provider and succeed', async () => {
    const grant = await client.clientCredentialsGrant(await configure(s, s.issuer), { scope: 'read' });
    assert.ok(grant.access_token);
    for (const parameters of [{}, { scope: 'openid read', claims: '{"id_token":{"email":null}}' }]) {
      const through = await authorize(s, s.issuer, parameters);
      assert.ok(through.accepted && through.reason === null, JSON.stringify(through));
    }
    const sample = 'modegate_requests_total{decision="forward",reason="not_strict",route="token"}';
    assert.equal(await metric(s.gateway.admin, sample), 1);
  });
});
