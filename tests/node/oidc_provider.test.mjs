// modegate in front of oidc-provider (an OpenID Provider nobody here wrote), with dynamic
// registration and `third_party_security_mode` as extra client metadata. openid-client
// registers through the gateway; what the provider stored is read back through its
// registration read endpoint and its adapter.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import Provider from 'oidc-provider';
import * as client from 'openid-client';

import { freePort, memoryAdapter, metric, startGateway } from './helpers.mjs';

/** oidc-provider's storage, counting the clients it creates. */
function countingAdapter() {
  const created = [];
  const { Adapter } = memoryAdapter((payload) => created.push(payload));
  return { Adapter, created };
}

/** A provider whose issuer is the gateway's address, and the gateway in front of it. */
async function providerBehindGateway(tenant) {
  const gatewayPort = await freePort();
  const providerPort = await freePort();
  const { Adapter, created } = countingAdapter();
  const provider = new Provider(`http://localhost:${gatewayPort}`, {
    adapter: Adapter,
    features: { registration: { enabled: true }, devInteractions: { enabled: false } },
    extraClientMetadata: { properties: ['third_party_security_mode'] },
  });
  const server = provider.listen(providerPort, '127.0.0.1');
  const rest = `[routes]\ndcr_paths = ["/reg"]\n\n[[customers]]\nid = "cus"\n${tenant.customer ?? ''}\n` +
    `[[tenants]]\nid = "t"\ncustomer = "cus"\nhosts = ["localhost"]\n${tenant.settings}\n`;
  const gateway = await startGateway({ upstreamPort: providerPort, rest, port: gatewayPort });
  return { gateway, provider, created, server, issuer: new URL(`http://localhost:${gatewayPort}`) };
}

const register = (issuer, metadata) =>
  client.dynamicClientRegistration(issuer, metadata, undefined, { execute: [client.allowInsecureRequests] });

/** The client as the provider stored it, through its registration read endpoint. */
async function readBack(configuration) {
  const metadata = configuration.clientMetadata();
  const response = await fetch(metadata.registration_client_uri, {
    headers: { authorization: `Bearer ${metadata.registration_access_token}` },
  });
  assert.equal(response.status, 200);
  return response.json();
}

describe('strict tenant with default API permissions', () => {
  let setup;
  before(async () => {
    setup = await providerBehindGateway({
      settings: 'default_api_permissions = [{ audience = "https://api.example", scopes = ["read"] }]',
    });
  });
  after(async () => {
    await setup.gateway.stop();
    setup.server.close();
  });

  test('registration gets the strict mode and the strict defaults', async () => {
    const configuration = await register(setup.issuer, { client_name: 'agent', redirect_uris: ['https://agent.example/cb'] });
    const stored = await readBack(configuration);
    assert.equal(stored.third_party_security_mode, 'strict');
    assert.deepEqual(stored.grant_types, ['authorization_code']);
    assert.deepEqual(stored.response_types, ['code']);
    assert.equal(setup.created.length, 1);
    assert.equal(setup.created[0].third_party_security_mode, 'strict');
  });

  test('a permissive request and an unsafe redirect are refused and create nothing', async () => {
    const before = setup.created.length;
    await assert.rejects(
      register(setup.issuer, { redirect_uris: ['https://agent.example/cb'], third_party_security_mode: 'permissive' }),
      (error) => error.status === 400 && error.error === 'invalid_client_metadata',
    );
    await assert.rejects(
      register(setup.issuer, { redirect_uris: ['http://evil.example/cb'] }),
      (error) => error.status === 400 && error.error === 'invalid_redirect_uri',
    );
    await assert.rejects(
      register(setup.issuer, { redirect_uris: ['https://agent.example/cb'], grant_types: ['implicit'], response_types: ['id_token'] }),
      (error) => error.status === 400,
    );
    assert.equal(setup.created.length, before, 'refused registrations create nothing at the provider');
    const sample = 'modegate_requests_total{decision="reject",reason="dcr_mode_mismatch",route="dcr_register"}';
    assert.equal(await metric(setup.gateway.admin, sample), 1);
  });
});

describe('permissive tenant of an eligible customer', () => {
  let setup;
  before(async () => {
    setup = await providerBehindGateway({ customer: 'permissive_eligible = true', settings: 'dcr_security_mode = "permissive"' });
  });
  after(async () => {
    await setup.gateway.stop();
    setup.server.close();
  });

  test('registration gets the permissive mode and keeps its own grants', async () => {
    const configuration = await register(setup.issuer, {
      redirect_uris: ['https://legacy.example/cb'],
      grant_types: ['authorization_code', 'implicit'],
      response_types: ['code', 'id_token'],
    });
    const stored = await readBack(configuration);
    assert.equal(stored.third_party_security_mode, 'permissive');
    assert.deepEqual(stored.grant_types, ['authorization_code', 'implicit']);
  });
});

describe('strict tenant without default API permissions', () => {
  let setup;
  before(async () => {
    setup = await providerBehindGateway({ settings: '' });
  });
  after(async () => {
    await setup.gateway.stop();
    setup.server.close();
  });

  test('registration is refused with access_denied and nothing is created', async () => {
    await assert.rejects(
      register(setup.issuer, { redirect_uris: ['https://agent.example/cb'] }),
      (error) => error.status === 403 && error.error === 'access_denied',
    );
    assert.equal(setup.created.length, 0);
  });
});
