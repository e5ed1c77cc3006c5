// Shared by the end-to-end tests: the tiny fixture writers, the native CLI, and one session (the built page
// served by `vite preview`, Debian's Chromium driven by playwright-core, every request recorded).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ARTIFACTS = path.join(ROOT, 'tests/e2e/artifacts');
export const CLI = path.join(ROOT, 'target/debug/quant-playground');
export const WAIT = 60_000;
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

// ---- fixtures, written by a tiny writer (deterministic values) -------------------------------------------

export function random(seed) {
  // mulberry32: a small deterministic generator; uniform in [0, 1)
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussians(count, seed, scale) {
  const uniform = random(seed);
  return Array.from({ length: count }, () => scale * Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()));
}

/** The 8-byte length and the JSON header of a .safetensors file; tensors: [{ name, dtype, shape, length }]. */
export function safetensorsHeader(tensors, metadata) {
  const header = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.length] };
    offset += t.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, Buffer.from(json)]);
}

/** tensors: [{ name, dtype, shape, bytes }] */
export function safetensors(tensors, metadata) {
  const header = safetensorsHeader(tensors.map((t) => ({ ...t, length: t.bytes.length })), metadata);
  return Buffer.concat([header, ...tensors.map((t) => t.bytes)]);
}

export function npy(values, shape) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`;
  header += `${' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64)}\n`;
  const preamble = Buffer.from([0x93, ...Buffer.from('NUMPY'), 1, 0, 0, 0]);
  preamble.writeUInt16LE(header.length, 8);
  return Buffer.concat([preamble, Buffer.from(header, 'latin1'), f32(values)]);
}

export const f32 = (values) => Buffer.from(new Float32Array(values).buffer);

/** Exact F16 values from their bits: random sign, exponents 2^-6..2^0, random mantissa. */
export function f16(count, seed) {
  const uniform = random(seed);
  const bits = Uint16Array.from({ length: count }, () => ((uniform() < 0.5 ? 1 : 0) << 15) | ((9 + Math.floor(uniform() * 7)) << 10) | Math.floor(uniform() * 1024));
  return Buffer.from(bits.buffer);
}

/** BF16 values: the high half of each f32's bits (a bf16 by construction, no rounding to argue about). */
export function bf16(values) {
  const bits = new Uint32Array(new Float32Array(values).buffer);
  return Buffer.from(Uint16Array.from(bits, (b) => b >>> 16).buffer);
}

// ---- the CLI: the same rows, natively -----------------------------------------------------------------

export function cli(args) {
  return JSON.parse(execFileSync(CLI, [...args, '--json'], { cwd: ROOT, encoding: 'utf8' }));
}

// ---- set-up and tear-down -------------------------------------------------------------------------------

/**
 * Serves the built dist/ under `prefix` only (as a course site hosts it: 404 elsewhere), with the page's
 * CSP as a header. Returns { origin, close }.
 */
export async function serveDistUnder(prefix) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm' };
  const csp = (await readFile(path.join(ROOT, 'index.html'), 'utf8')).match(/http-equiv="Content-Security-Policy"\s+content="([^"]+)"/)[1];
  const server = createHttpServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (!url.pathname.startsWith(prefix) || url.pathname.includes('..')) {
      res.writeHead(404).end();
      return;
    }
    const file = path.join(ROOT, 'dist', url.pathname.slice(prefix.length) || 'index.html');
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream', 'content-security-policy': csp });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((resolve) => server.close(resolve)) };
}

function newestSource() {
  // The page's sources sit in folders (www/views/NAME/, www/worker/, …): every file under www/ counts.
  const sources = ['index.html', 'vite.config.js', ...readdirSync(path.join(ROOT, 'www'), { recursive: true }).map((f) => `www/${f}`)];
  return Math.max(...sources.map((f) => statSync(path.join(ROOT, f)).mtimeMs));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function startPreview(port) {
  const child = spawn('npx', ['vite', 'preview', '--host', '127.0.0.1', '--port', String(port), '--strictPort'], {
    cwd: ROOT,
    detached: true, // its own process group, so `after` ends npx, sh and vite together
    stdio: ['ignore', 'pipe', 'pipe'],
    // CI=true makes vite colour its output (picocolors), which splits the URL with escape codes.
    env: { ...process.env, NO_COLOR: '1' },
  });
  let output = '';
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vite preview did not start in ${WAIT} ms:\n${output}`)), WAIT);
    const listen = (chunk) => {
      // Escape codes are stripped too, in case a terminal setting still colours the URL.
      output += String(chunk).replace(/\x1b\[[0-9;]*m/g, '');
      if (output.includes(`127.0.0.1:${port}`)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', listen);
    child.stderr.on('data', listen);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`vite preview exited with ${code}:\n${output}`));
    });
  });
  return { child, ready };
}

/** Builds dist/ (when older than the sources) and the CLI, one test file at a time (files may run in parallel). */
async function buildOnce() {
  const lock = path.join(ROOT, 'target/e2e-build.lock');
  mkdirSync(path.dirname(lock), { recursive: true });
  for (let waited = 0; ; waited += 200) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if (error.code !== 'EEXIST' || waited > 10 * 60_000) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  try {
    const built = path.join(ROOT, 'dist/index.html');
    if (!existsSync(built) || statSync(built).mtimeMs < newestSource()) {
      execFileSync('npx', ['vite', 'build'], { cwd: ROOT, stdio: 'inherit' });
    }
    const env = { ...process.env, PATH: `${path.join(homedir(), '.cargo/bin')}:${process.env.PATH}` };
    execFileSync('cargo', ['build', '--quiet', '--bin', 'quant-playground'], { cwd: ROOT, env, stdio: 'inherit' });
  } finally {
    rmdirSync(lock);
  }
}

/**
 * Builds what is missing, serves dist/ and opens it in Chromium at 1280×800 (light). Returns
 * { browser, page, origin, requests, pageErrors, close }; every request URL and page error is recorded.
 */
export async function startSession({ viewport = { width: 1280, height: 800 }, query = '' } = {}) {
  assert.ok(existsSync(path.join(ROOT, 'www/pkg/quant_playground.js')), 'www/pkg is missing: run bash scripts/build-wasm.sh first');
  assert.ok(existsSync(path.join(ROOT, 'www/pkg-relaxed/quant_playground.js')), 'www/pkg-relaxed is missing: run bash scripts/build-wasm.sh first');
  await buildOnce();
  mkdirSync(ARTIFACTS, { recursive: true });

  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const preview = startPreview(port);
  const server = preview.child;
  await preview.ready;

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport, colorScheme: 'light', acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const requests = [];
  const pageErrors = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${origin}/${query}`);
  const close = async () => {
    await browser.close();
    if (server.exitCode === null && server.signalCode === null) {
      try {
        process.kill(-server.pid, 'SIGTERM'); // the group of npx, sh and vite started above
      } catch (error) {
        if (error.code !== 'ESRCH') throw error;
      }
    }
  };
  return { browser, page, origin, requests, pageErrors, close };
}
