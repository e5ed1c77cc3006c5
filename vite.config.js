// Vite serves the page in development and builds the static dist/ a course site can host.
import { readFileSync } from 'node:fs';
import { defineConfig } from 'vite';

// One policy, written once in index.html. A <meta> policy governs the page only; a worker follows the policy
// of its own response, so the dev and preview servers also send it as a header (a host can do the same).
const contentSecurityPolicy = readFileSync(new URL('./index.html', import.meta.url), 'utf8').match(
  /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/,
)[1];
const headers = { 'Content-Security-Policy': contentSecurityPolicy };

export default defineConfig({
  // Relative asset URLs, so dist/ works from any sub-path (e.g. https://course.example/week3/quant/).
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The .wasm and the example's files are always their own files, never inlined as base64: the worker
    // fetches them, and the CSP's connect-src 'self' does not allow fetching a data: URL (the MiniLM
    // example's sentences-eval.json is small enough to be inlined otherwise).
    assetsInlineLimit: (file) => (/\.(wasm|npy|npz|safetensors|onnx|json)$/.test(file) ? false : undefined),
  },
  // The worker imports comlink and the wasm glue as ES modules.
  worker: { format: 'es' },
  // onnxruntime-web finds its .wasm next to its own module (new URL(…, import.meta.url)); the dev server's
  // dependency pre-bundling would move the module away from it.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  server: { host: '127.0.0.1', headers },
  preview: { host: '127.0.0.1', headers },
});
