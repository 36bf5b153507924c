// What the browser tests run against: the real binary on SQLite with a real
// SMTP server (aiosmtpd), two tiny static servers on other hosts of the same
// site (the app's files, and a hostile page), and Debian's Chromium driven
// by playwright-core. Everything listens on 127.0.0.1; Chromium maps the
// `*.tozalash.test` names there.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, extname, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, '../..');
const WEB = join(ROOT, 'web');
export const ADMIN = { email: 'boss@example.uz', username: 'boss', password: 'Rahbar-parol-2026' };
export const ACCESS_TTL = 3;

export function freePort() {
  return new Promise((ok, fail) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
    server.on('error', fail);
  });
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

async function waitFor(what, check, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css', '.json': 'application/json', '.svg': 'image/svg+xml' };

/** Serves web/ as a front-end team would from its own host, pointed at `api`. */
function appServer(port, api) {
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    const file = path === '/' ? 'index.html' : path.replace(/^\/+/, '');
    const full = resolve(WEB, file);
    if (!full.startsWith(WEB) || !existsSync(full) || file.endsWith('.md')) {
      res.writeHead(404).end();
      return;
    }
    let body = readFileSync(full);
    if (file === 'index.html') {
      body = body.toString().replace('<meta name="tozalash-api" content="">', `<meta name="tozalash-api" content="${api}">`);
    }
    res.writeHead(200, {
      'Content-Type': TYPES[extname(full)] || 'application/octet-stream',
      'Content-Security-Policy': `default-src 'self'; connect-src 'self' ${api}; frame-ancestors 'none'`,
    });
    res.end(body);
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok(server)));
}

/** A same-site page that is NOT in CORS_ORIGINS: it tries to read and to
 *  write with the visitor's cookies, and reports what happened. */
function hostileServer(port, api) {
  const page = `<!doctype html><html><head><meta charset="utf-8"><title>hostile</title>
<script src="/attack.js" defer></script></head><body>
<form id="text" method="post" action="${api}/api/v1/orders" enctype="text/plain" target="sink"><input name='{"serviceId":"' value='x"}'></form>
<form id="urlencoded" method="post" action="${api}/api/v1/auth/logout" target="sink"><input name="a" value="b"></form>
<iframe name="sink"></iframe></body></html>`;
  const script = `window.results = {};
(async () => {
  try { const r = await fetch('${api}/api/v1/auth/me', { credentials: 'include' }); results.read = 'read ' + r.status + ' ' + await r.text(); }
  catch (e) { results.read = 'blocked'; }
  try {
    const r = await fetch('${api}/api/v1/orders', { method: 'POST', credentials: 'include', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ serviceId: window.SERVICE_ID }) });
    results.write = 'answered ' + r.status;
  } catch (e) { results.write = 'blocked'; }
  try {
    const r = await fetch('${api}/api/v1/orders', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ serviceId: window.SERVICE_ID }) });
    results.noCors = r.type;
  } catch (e) { results.noCors = 'blocked'; }
  results.done = true;
})();`;
  const server = createServer((req, res) => {
    if (req.url.startsWith('/attack.js')) res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(script);
    else res.writeHead(200, { 'Content-Type': 'text/html' }).end(page);
  });
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok(server)));
}

function python() {
  if (process.env.TEST_PYTHON) return process.env.TEST_PYTHON;
  const venv = join(ROOT, '.cache/venv/bin/python');
  if (existsSync(venv)) return venv;
  throw new Error('no Python with aiosmtpd: set TEST_PYTHON or run scripts/test.sh');
}

/** Starts everything; `stop()` ends it. */
export async function start() {
  const work = mkdtempSync(join(tmpdir(), 'tozalash-e2e-'));
  const bin = process.env.TOZALASH_BIN || join(ROOT, 'target/debug/tozalash');
  const [apiPort, smtpPort, appPort, hostilePort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const maildir = join(work, 'maildir');
  const children = [];

  const smtp = spawn(python(), ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${smtpPort}`, '-c', 'aiosmtpd.handlers.Mailbox', maildir], { stdio: 'ignore' });
  children.push(smtp);
  await waitFor('aiosmtpd', () => new Promise((ok) => {
    const socket = net.connect(smtpPort, '127.0.0.1', () => { socket.end(); ok(true); });
    socket.on('error', () => ok(false));
  }));

  const apiOrigin = `http://api.tozalash.test:${apiPort}`;
  const appOrigin = `http://app.tozalash.test:${appPort}`;
  const env = {
    ...process.env,
    APP_ENV: 'development',
    HOST: '127.0.0.1',
    PORT: String(apiPort),
    DATABASE_URL: `sqlite://${join(work, 'e2e.db')}?mode=rwc`,
    SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    PUBLIC_URL: `http://127.0.0.1:${apiPort}`,
    CORS_ORIGINS: appOrigin,
    ACCESS_TOKEN_TTL: String(ACCESS_TTL),
    ADMIN_EMAIL: ADMIN.email,
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
    RATE_LIMITS: 'false',
    MAIL_RESEND_INTERVAL: '0',
    OUTBOX_POLL_MS: '100',
    RUST_LOG: process.env.RUST_LOG || 'warn',
  };
  const seeded = spawnSync(bin, ['seed'], { env, encoding: 'utf8' });
  if (seeded.status !== 0) throw new Error(`tozalash seed failed: ${seeded.stderr}`);
  const server = spawn(bin, [], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  server.stderr.on('data', (chunk) => { log += chunk; });
  children.push(server);
  const base = `http://127.0.0.1:${apiPort}`;
  await waitFor('the server', async () => (await fetch(`${base}/health/ready`)).ok);

  const statics = [await appServer(appPort, apiOrigin), await hostileServer(hostilePort, apiOrigin)];

  const profiles = [];
  const launch = async (options = {}) => {
    const profile = mkdtempSync(join(tmpdir(), 'tozalash-chromium-'));
    profiles.push(profile);
    return chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--host-resolver-rules=MAP *.tozalash.test 127.0.0.1',
      ],
      locale: 'en-GB',
      // A customer in Tashkent: the booking form's local time is the business's.
      timezoneId: 'Asia/Tashkent',
      viewport: { width: 1200, height: 900 },
      ...options,
    });
  };

  return {
    base, apiOrigin, appOrigin, hostileOrigin: `http://evil.tozalash.test:${hostilePort}`,
    launch,
    log: () => log,
    /** The links of the mails delivered to `to`, oldest first (quoted-printable decoded). */
    mailLinks(to) {
      const links = [];
      for (const box of ['new', 'cur']) {
        const dir = join(maildir, box);
        if (!existsSync(dir)) continue;
        for (const name of readdirSync(dir).sort()) {
          const raw = readFileSync(join(dir, name), 'utf8');
          if (!new RegExp(`^To: .*${to.replace(/[.+]/g, '\\$&')}`, 'mi').test(raw)) continue;
          const text = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
          for (const match of text.matchAll(/https?:\/\/[^\s"<>]+/g)) if (!links.includes(match[0])) links.push(match[0]);
        }
      }
      return links;
    },
    async waitForLink(to, part) {
      return waitFor(`a mail to ${to} with ${part}`, () => this.mailLinks(to).find((l) => l.includes(part)));
    },
    /** An administrator's Bearer token, for arranging data outside the browser. */
    async adminToken() {
      const response = await fetch(`${base}/api/v1/auth/login`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email: ADMIN.email, password: ADMIN.password }),
      });
      const cookie = response.headers.getSetCookie().find((c) => c.startsWith('access_token='));
      return cookie.split(';')[0].slice('access_token='.length);
    },
    async asAdmin(method, path, body) {
      const response = await fetch(`${base}/api/v1${path}`, {
        method,
        headers: { Authorization: `Bearer ${await this.adminToken()}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
      return text ? JSON.parse(text) : null;
    },
    async stop() {
      for (const s of statics) s.close();
      for (const child of children) child.kill('SIGTERM');
      for (const profile of profiles) rmSync(profile, { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
    },
  };
}
