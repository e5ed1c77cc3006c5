// Links the page wrote before it asked the core for its labels (the queries below are what its
// www/config.js writeQuery produced) still open the same settings: read back through the core's number
// formats (the page's own module, loaded in Node), and written again unchanged. A link with what the core
// does not know falls back to the defaults and drops the columns it cannot read.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { createFormats } from '../../www/app/formats.js';
import { readQuery, settingsFromQuery, writeQuery } from '../../www/shared/config.js';
import { ROOT } from './lib.mjs';

let formats;
let methods;

before(async () => {
  const wasm = await import(pathToFileURL(path.join(ROOT, 'www/pkg/quant_playground.js')).href);
  await wasm.default({ module_or_path: readFileSync(path.join(ROOT, 'www/pkg/quant_playground_bg.wasm')) });
  formats = createFormats(wasm); // as the page does with its own instance (www/app/formats.js)
  methods = JSON.parse(wasm.calibration_methods());
});

const open = (url) => settingsFromQuery(readQuery(new URL(url).search), formats, methods);

/** The query the page writes for `settings` of the tensor named in `url`. */
function rewrite(url, settings) {
  const { file, tensor } = readQuery(new URL(url).search).view;
  return writeQuery({ spec: settings.spec, calibration: settings.method, added: settings.added.map((a) => a.label), file, tensor, error: settings.errorConfig, log: settings.log });
}

const spec = (bits, scheme, granularity, { full = false, scales = 'f32' } = {}) => ({ bits, scheme, full_range: full, granularity, scale_dtype: scales });

test('saved links open their settings and columns, and are written again unchanged', () => {
  const saved = [
    {
      url: 'http://127.0.0.1/?file=model.safetensors&tensor=embed.weight&bits=3&scheme=sym&range=narrow&granularity=channel&scales=f32&calibration=minmax&add=int4+asym+group%3A32',
      spec: spec(3, 'symmetric', 'channel:0'),
      label: 'int3 sym channel:0',
      added: [['int4 asym group:32', spec(4, 'asymmetric', 'group:32')]],
      method: 'minmax',
    },
    {
      url: 'http://127.0.0.1/?file=example-seed-42.safetensors&tensor=head.weight&bits=5&scheme=asym&granularity=group%3A16&scales=f16&calibration=minmax&add=int2+sym+tensor&log=1',
      spec: spec(5, 'asymmetric', 'group:16', { scales: 'f16' }),
      label: 'int5 asym group:16 f16-scales',
      added: [['int2 sym tensor', spec(2, 'symmetric', 'tensor')]],
      method: 'minmax',
      log: true,
    },
    {
      url: 'http://127.0.0.1/?file=w_align64.gguf&tensor=w_Q8_0&bits=8&scheme=sym&range=full&granularity=tensor&scales=f32&calibration=entropy%3Atrt'
        + '&add=int4+sym+channel%3A0+full&add=int6+sym+tensor+full+f16-scales&error=int4+sym+channel%3A0+full',
      spec: spec(8, 'symmetric', 'tensor', { full: true }),
      label: 'int8 sym tensor full',
      added: [['int4 sym channel:0 full', spec(4, 'symmetric', 'channel:0', { full: true })], ['int6 sym tensor full f16-scales', spec(6, 'symmetric', 'tensor', { full: true, scales: 'f16' })]],
      method: 'entropy:trt',
      error: 'int4 sym channel:0 full',
    },
  ];
  for (const want of saved) {
    const settings = open(want.url);
    assert.deepEqual(settings.spec, want.spec, want.url);
    assert.equal(settings.label, want.label);
    assert.deepEqual(settings.added.map((a) => [a.label, a.spec]), want.added);
    assert.equal(settings.method, want.method);
    assert.equal(settings.errorConfig, want.error ?? null);
    assert.equal(settings.log, want.log ?? false);
    assert.equal(rewrite(want.url, settings), new URL(want.url).search, 'written again unchanged');
  }
});

test('a hand-written link opens in the page\'s order; what the core does not know falls back', () => {
  // The README's screenshot link: parameters in another order, calibration left out.
  const typed = 'http://127.0.0.1/?tensor=fc2.weight&file=example-seed-42.safetensors&bits=8&scheme=sym&granularity=channel&log=1';
  const settings = open(typed);
  assert.deepEqual(settings.spec, spec(8, 'symmetric', 'channel:0'));
  assert.equal(settings.method, methods[0]);
  assert.equal(rewrite(typed, settings), '?file=example-seed-42.safetensors&tensor=fc2.weight&bits=8&scheme=sym&range=narrow&granularity=channel&scales=f32&calibration=minmax&log=1');

  // Bits the core does not offer, labels it cannot read, a method it does not list: the defaults, no columns.
  const broken = open('http://127.0.0.1/?bits=9&scheme=asym&granularity=group:0&calibration=magic&add=int9+sym+tensor&add=fp8+e9&add=fp16&error=nonsense');
  assert.deepEqual(broken.spec, spec(8, 'asymmetric', 'channel:0'));
  assert.equal(broken.method, methods[0]);
  assert.deepEqual(broken.added, []); // fp16 is a format, but no integer column the comparison can add
  assert.equal(broken.errorConfig, null);
});
