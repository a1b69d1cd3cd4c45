// Start the real modegate binary and the reference server for the Node tests, on loopback.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const root = resolve(import.meta.dirname, '..', '..');
export const modegateBin = process.env.MODEGATE_BIN ?? join(root, 'target', 'debug', 'modegate');

export function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

async function waitFor(check, what, limitMs = 15000) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function spawnLogged(args, name) {
  const child = spawn(modegateBin, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  return {
    child,
    log: () => log,
    stop: () => new Promise((done) => {
      if (child.exitCode !== null) return done();
      child.once('exit', done);
      child.kill('SIGINT');
    }),
    name,
  };
}

/** The gateway with `config` (TOML after the [server] and [upstream] tables). */
export async function startGateway({ upstreamPort, rest, tls, port: fixedPort }) {
  const port = fixedPort ?? (await freePort());
  const admin = await freePort();
  const tlsPort = tls ? await freePort() : undefined;
  const tlsTable = tls ? `[server.tls]\nlisten = ["127.0.0.1:${tlsPort}"]\ncert = "${tls.cert}"\nkey = "${tls.key}"\n` : '';
  const config = `[server]\nlisten = ["127.0.0.1:${port}"]\nadmin_listen = "127.0.0.1:${admin}"\nthreads = 1\ngrace_period_s = 0\n${tlsTable}\n` +
    `[upstream]\naddress = "127.0.0.1:${upstreamPort}"\n\n${rest}`;
  const dir = mkdtempSync(join(tmpdir(), 'modegate-node-'));
  const path = join(dir, 'modegate.toml');
  writeFileSync(path, config);
  const process = spawnLogged(['run', '--config', path], 'modegate');
  await waitFor(async () => (await fetch(`http://127.0.0.1:${admin}/readyz`)).ok, `modegate ready (${process.log()})`);
  const stop = async () => {
    await process.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return { ...process, stop, port, admin, tlsPort };
}

/** The reference authorization server for `hosts`. */
export async function startReference(hosts) {
  const port = await freePort();
  const args = ['reference', '--listen', `127.0.0.1:${port}`, ...hosts.flatMap((h) => ['--host', h])];
  const process = spawnLogged(args, 'reference');
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/.well-known/jwks.json`)).ok, 'the reference server');
  return { ...process, port };
}

/** Prometheus sample value from the admin listener. */
export async function metric(admin, sample) {
  const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(sample));
  return line ? Number(line.slice(sample.length).trim()) : 0;
}

/** oidc-provider storage in memory: `onCreate(payload)` is told of each new client. */
export function memoryAdapter(onCreate = () => {}) {
  const stores = new Map();
  class Adapter {
    constructor(name) {
      this.name = name;
      if (!stores.has(name)) stores.set(name, new Map());
      this.store = stores.get(name);
    }
    async upsert(id, payload) {
      if (this.name === 'Client' && !this.store.has(id)) onCreate(payload);
      this.store.set(id, payload);
    }
    async find(id) { return this.store.get(id); }
    async findByUid() { return undefined; }
    async findByUserCode() { return undefined; }
    async consume() {}
    async destroy(id) { this.store.delete(id); }
    async revokeByGrantId() {}
  }
  return { Adapter, clients: () => stores.get('Client') };
}
