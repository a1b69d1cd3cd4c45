// Runs the Node tests: makes a throw-away CA and a certificate for localhost (openssl), and
// starts the test runner with that CA trusted (NODE_EXTRA_CA_CERTS is read at start-up only).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'modegate-node-pki-'));
const file = (name) => join(dir, name);
const openssl = (...args) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=modegate node test CA',
  '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  '-keyout', file('ca.key'), '-out', file('ca.pem'));
openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', file('key.pem'), '-out', file('cert.csr'));
writeFileSync(file('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
openssl('x509', '-req', '-in', file('cert.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial',
  '-days', '1', '-extfile', file('ext.cnf'), '-out', file('cert.pem'));

const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...process.argv.slice(2)], {
  stdio: 'inherit',
  cwd: import.meta.dirname,
  env: { ...process.env, NODE_EXTRA_CA_CERTS: file('ca.pem'), MODEGATE_TLS_CERT: file('cert.pem'), MODEGATE_TLS_KEY: file('key.pem') },
});
rmSync(dir, { recursive: true, force: true });
process.exit(result.status ?? 1);
