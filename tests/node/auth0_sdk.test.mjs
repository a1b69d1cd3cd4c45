// The official auth0 Node SDK (ManagementClient) creating and updating clients through
// modegate's TLS listener, in front of the reference authorization server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { ManagementClient, ManagementError } from 'auth0';

import { startGateway, startReference } from './helpers.mjs';

const tls = { cert: process.env.MODEGATE_TLS_CERT, key: process.env.MODEGATE_TLS_KEY };
let reference;
let gateway;
let management;

before(async () => {
  assert.ok(tls.cert && tls.key, 'run through `npm test` (run.mjs makes the test CA)');
  reference = await startReference(['localhost']);
  const rest = '[[customers]]\nid = "cus_new"\n\n[[tenants]]\nid = "sdk"\ncustomer = "cus_new"\nhosts = ["localhost"]\n' +
    'default_api_permissions = [{ audience = "https://api.example", scopes = ["read"] }]\n';
  gateway = await startGateway({ upstreamPort: reference.port, rest, tls });
  management = new ManagementClient({
    domain: `localhost:${gateway.tlsPort}`,
    clientId: 'demo-m2m',
    clientSecret: 'demo-secret',
  });
});

after(async () => {
  await gateway?.stop();
  await reference?.stop();
});

test('a third-party client created through the SDK gets the strict mode', async () => {
  const created = await management.clients.create({ name: 'sdk-app', app_type: 'regular_web', is_first_party: false });
  assert.equal(created.third_party_security_mode, 'strict');
  assert.equal(created.is_first_party, false);
  const updated = await management.clients.update(created.client_id, { name: 'sdk-app-renamed', third_party_security_mode: 'strict' });
  assert.equal(updated.name, 'sdk-app-renamed');
});

test('a refused request surfaces the gateway status and message in the SDK error', async () => {
  await assert.rejects(
    management.clients.create({ name: 'legacy', is_first_party: false, third_party_security_mode: 'permissive' }),
    (error) => {
      assert.ok(error instanceof ManagementError, `${error}`);
      assert.equal(error.statusCode, 400);
      assert.equal(error.body.errorCode, 'invalid_body');
      assert.match(error.body.message, /cus_new.*not eligible/);
      return true;
    },
  );
  const created = await management.clients.create({ name: 'sdk-app-2', is_first_party: false });
  await assert.rejects(
    management.clients.update(created.client_id, { third_party_security_mode: 'permissive' }),
    (error) => {
      assert.equal(error.statusCode, 400);
      assert.match(error.body.message, /set at creation and cannot be changed; create a new application/);
      return true;
    },
  );
  const stored = await management.clients.get(created.client_id);
  assert.equal(stored.third_party_security_mode, 'strict', 'the refused update never reached the server');
});

test('strict-profile members are refused for strict clients', async () => {
  await assert.rejects(
    management.clients.create({ name: 'sso', is_first_party: false, sso: true }),
    (error) => error.statusCode === 400 && /sso/.test(error.body.message),
  );
});
