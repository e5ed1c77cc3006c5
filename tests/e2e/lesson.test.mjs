// The walk-through (?view=lesson): each section's numbers equal the CLI's `lesson SECTION --json` (the
// lecture's formula example exactly [11, 53, 95, 127]); every section and the comparison, calibration and
// speed views load alone (?embed=NAME) from dist/ served under a sub-path, with no request leaving
// 127.0.0.1 and nothing thrown; axe-core finds no serious or critical violation on the walk-through and two
// embeds; screenshots at 1280 and 390 px wide go to docs/. Section 6's real networks, measured in the tab,
// equal the CLI's (scripts/ptq_table.mjs: the CLI quantizes, the page's worker code measures).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, cli, ROOT, serveDistUnder, startSession, WAIT } from './lib.mjs';

const axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const PREFIX = '/course/week3/';
const LESSON_VIEWS = ['lesson-types', 'lesson-formula', 'lesson-schemes', 'lesson-granularity', 'lesson-calibration', 'lesson-results', 'lesson-hardware'];
/** What says each embed is computed and shown. */
const READY = {
  'lesson-types': '#lesson-types-table[data-state="ready"]',
  'lesson-formula': '#lesson-formula-table[data-state="ready"]',
  'lesson-schemes': '#lesson-schemes-table[data-state="ready"]',
  'lesson-granularity': '#lesson-granularity-table[data-state="ready"]',
  'lesson-calibration': '#lesson-calibration-table[data-state="ready"]',
  'lesson-results': '#lesson-results-table[data-state="ready"]',
  'lesson-hardware': '#lesson-hardware-run:not([disabled])',
  comparison: '#comparison[data-state="ready"]',
  calibration: '#calibration-table[data-state="ready"]',
  speed: '#speed-run:not([disabled])',
};

let session;
let page;

before(async () => {
  session = await startSession({ query: '?view=lesson' });
  page = session.page;
  for (const id of LESSON_VIEWS) await page.locator(READY[id]).waitFor({ timeout: 2 * WAIT });
});

after(async () => {
  await session?.close();
});

/** axe-core's serious and critical violations on the page (the script is evaluated, the page's CSP allows no inline tag). */
async function seriousViolations(target) {
  await target.evaluate(`${axeSource}\n;0`);
  const result = await target.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

const rowData = (selector, key) => page.$$eval(selector, (rows, k) => rows.map((r) => r.dataset[k]), key);

test('the header links to the walk-through, which shows the seven sections in order and none of the playground', async () => {
  assert.equal(await page.locator('header.top a[href="./?view=lesson"]').count(), 1);
  const shown = await page.evaluate(() => [...document.querySelectorAll('[data-view]')].filter((e) => e.checkVisibility()).map((e) => e.dataset.view));
  assert.deepEqual(shown, LESSON_VIEWS);
  assert.equal(await page.locator('.files').isVisible(), false);
  assert.match(new URL(page.url()).search, /view=lesson/);
});

test('section 2: the lecture example gives exactly [11, 53, 95, 127], as the CLI does, and names the slide\'s slip', async () => {
  const codes = JSON.parse(await page.locator('#lesson-formula-codes').getAttribute('data-codes'));
  assert.deepEqual(codes, [11, 53, 95, 127]);
  const expected = cli(['lesson', 'formula']);
  assert.deepEqual(codes, expected.codes);
  assert.equal(Number(await page.locator('#lesson-formula-table').getAttribute('data-scale')), expected.scale);
  const cells = await page.$$eval('#lesson-formula-table tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  assert.deepEqual(cells.map((c) => Number(c[1])), expected.steps.map((s) => s.divided));
  assert.deepEqual(cells.map((c) => Number(c[5])), expected.steps.map((s) => s.dequantized));
  assert.match(await page.locator('#lesson-formula-slip').textContent(), /96.*95\.25.*95/);

  // An edit recomputes: asymmetric 4-bit with a scale and zero point typed in.
  await page.locator('#lesson-formula-scheme').selectOption('asymmetric');
  await page.locator('#lesson-formula-bits').selectOption('4');
  await page.locator('#lesson-formula-scale').fill('0.1');
  await page.locator('#lesson-formula-zp').fill('3');
  const typed = cli(['lesson', 'formula', '--bits', '4', '--scheme', 'asym', '--scale', '0.1', '--zero-point', '3']);
  await page.waitForFunction((want) => document.getElementById('lesson-formula-codes').dataset.codes === want, JSON.stringify(typed.codes));
  assert.equal(await page.locator('#lesson-formula-slip').isHidden(), true);
});

test('section 1: each type stores what the CLI says', async () => {
  const expected = cli(['lesson', 'types', '--value', '0.1']);
  assert.deepEqual(await rowData('#lesson-types-table tbody tr', 'stored'), expected.types.map((t) => String(t.stored)));
  const bits = await page.$$eval('#lesson-types-table tbody tr td.bits', (cells) => cells.map((c) => [...c.children].map((s) => s.textContent)));
  assert.deepEqual(bits, expected.types.map((t) => t.fields.map((f) => f.bits)));
  await page.locator('#lesson-types-value').fill('-70000');
  const big = cli(['lesson', 'types', '--value', '-70000']);
  await page.waitForFunction(() => document.getElementById('lesson-types-table').dataset.value === '-70000');
  assert.deepEqual(await rowData('#lesson-types-table tbody tr', 'stored'), big.types.map((t) => String(t.stored)));
  assert.match(await page.locator('#lesson-types-table tr[data-type="fp16"]').textContent(), /overflow/);
});

test('section 3: the codes symmetric wastes on the ReLU-like set are the CLI\'s', async () => {
  const expected = cli(['lesson', 'schemes']);
  assert.deepEqual((await rowData('#lesson-schemes-table tbody tr', 'wasted')).map(Number), expected.grids.map((g) => g.wasted_codes));
  assert.equal(expected.grids[0].wasted_codes, 127); // −127 … −1 of −127 … 127
  assert.equal(expected.grids[1].wasted_codes, 0);
  assert.equal(await page.locator('#lesson-schemes-lines svg').count(), 2);
});

test('section 4: each granularity\'s error on the digits layer is the CLI\'s', async () => {
  const expected = cli(['lesson', 'granularity']);
  assert.deepEqual((await rowData('#lesson-granularity-table tbody tr', 'mse')).map(Number), expected.maps.map((m) => m.metrics.mse));
  assert.equal(await page.locator('#lesson-granularity-maps canvas').count(), 3);
  const painted = await page.$eval('#lesson-granularity-maps canvas', (c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    return new Set(Array.from({ length: d.length / 4 }, (_, i) => d[i * 4])).size;
  });
  assert.ok(painted > 10, `the heatmap has ${painted} shades`);
});

test('section 5: the methods and a threshold moved by keyboard give the CLI\'s errors', async () => {
  const expected = cli(['lesson', 'calibration']);
  assert.deepEqual(await rowData('#lesson-calibration-table tbody tr', 'method'), expected.methods.map((m) => m.method));
  assert.deepEqual((await rowData('#lesson-calibration-table tbody tr', 'mse')).map(Number), expected.methods.map((m) => m.mse));
  const split = page.locator('#lesson-calibration-split');
  const before = await split.getAttribute('data-threshold');
  await page.locator('#lesson-calibration-threshold').focus();
  for (let i = 0; i < 40; i++) await page.keyboard.press('ArrowLeft');
  // Done when the readout is of the slider's last position (the core takes it as f32).
  await page.waitForFunction(() => {
    const shown = Number(document.getElementById('lesson-calibration-split').dataset.threshold);
    return Math.fround(shown) === Math.fround(Number(document.getElementById('lesson-calibration-threshold').value));
  });
  const { threshold, mse, rounding, clipping } = await split.evaluate((e) => ({ ...e.dataset }));
  const point = cli(['lesson', 'calibration', '--threshold', threshold]);
  assert.equal(Number(mse), point.mse);
  assert.equal(Number(rounding), point.rounding_mse);
  assert.equal(Number(clipping), point.clipping_mse);
  assert.ok(Number(threshold) < Number(before));
});

test('section 6: the accuracy table is the CLI\'s eval', async () => {
  const expected = cli(['eval']);
  assert.deepEqual(await rowData('#lesson-results-table tbody tr', 'config'), expected.rows.map((r) => r.config));
  assert.deepEqual((await rowData('#lesson-results-table tbody tr', 'accuracy')).map(Number), expected.rows.map((r) => r.accuracy));
});

test('section 7: the kernels timed here give the CLI\'s outputs bit for bit, the ratios are the shown times\', the published figures are there', { timeout: 2 * WAIT }, async () => {
  await page.locator('#lesson-hardware-run').click();
  await page.locator('#lesson-hardware-table[data-state="ready"]').waitFor({ timeout: 2 * WAIT });
  const table = await page.locator('#lesson-hardware-table').evaluate((t) => ({ ...t.dataset }));
  const m = Number(table.m);
  // The same W (fc2.weight), x (N(0, 1) from the seed) and kernels natively: the CLI runs the scalar twins,
  // the page the SIMD build, and every y must be the same bits (FNV-1a-64 of the f32 bytes).
  const expected = cli(['lesson', 'hardware', '--m', String(m), '--seed', table.seed]);
  const rows = await page.$$eval('#lesson-hardware-table tbody tr', (trs) => trs.map((r) => ({ ...r.dataset, cells: [...r.cells].map((c) => c.textContent) })));
  assert.deepEqual(rows.map((r) => r.kernel), ['fp32', 'int8', 'int4', 'mxfp4', 'nf4']);
  assert.deepEqual(rows.map((r) => r.kernel), expected.kernels.map((k) => k.kernel));
  assert.deepEqual(rows.map((r) => r.checksum), expected.kernels.map((k) => k.checksum), `the ${table.build} build against the CLI's scalar twins`);
  assert.deepEqual(rows.map((r) => r.cells[5]), expected.kernels.map((k) => k.checksum));
  const fp32 = Number(rows[0].median);
  for (const r of rows) {
    const median = Number(r.median);
    assert.ok(median > 0, `${r.kernel}: ${r.median}`);
    assert.equal(Number(r.speedup), fp32 / median, `${r.kernel}: speed-up = FP32's time / this time`);
    assert.equal(r.cells[3], `${(fp32 / median).toFixed(2)}×`);
    assert.equal(Number(r.gops), (2 * m * expected.n * expected.k) / (median * 1e6), `${r.kernel}: GOPS = 2·m·n·k / time`);
  }
  // This tab's row of the data-sheet table: FP32 and INT8 GOPS of the measured rows, and their ratio.
  const here = await page.locator('#lesson-hardware-here').evaluate((r) => ({ ...r.dataset, cells: [...r.cells].map((c) => c.textContent) }));
  const [f, i] = [rows[0], rows[1]].map((r) => Number(r.gops));
  assert.equal(Number(here.ratio), i / f);
  assert.equal(here.cells[3], `${(i / f).toFixed(2)}×`);
  assert.equal(Number(here.fp32), f / 1000);
  assert.match(await page.locator('#lesson-hardware-measured').textContent(), new RegExp(`INT8 ran ${(i / f).toFixed(2)}×`));

  // The published figures with their sources: Horowitz (ISSCC 2014) and the vendors' data sheets.
  const energy = await page.$$eval('#lesson-hardware-energy tbody tr', (trs) => trs.map((r) => ({ op: r.dataset.op, pj: Number(r.dataset.pj), cells: [...r.cells].map((c) => c.textContent) })));
  assert.deepEqual(energy.map((e) => [e.op, e.pj]), [['int8-add', 0.03], ['int32-add', 0.1], ['fp32-add', 0.9], ['int8-mult', 0.2], ['int32-mult', 3.1], ['fp32-mult', 3.7]]);
  for (const e of energy) {
    assert.equal(Number(e.cells[1]), e.pj);
    const fp = e.op.endsWith('add') ? 0.9 : 3.7;
    assert.ok(Math.abs(parseFloat(e.cells[2]) - fp / e.pj) / (fp / e.pj) < 0.01, `${e.op}: ${e.cells[2]} vs ${fp / e.pj}`);
  }
  assert.equal(await page.locator('#lesson-hardware-energy caption a[href="https://doi.org/10.1109/ISSCC.2014.6757323"]').count(), 1);
  const chips = await page.$$eval('#lesson-hardware-chips tbody tr[data-fp32]:not(#lesson-hardware-here)', (trs) =>
    trs.map((r) => ({ chip: r.dataset.chip, fp32: Number(r.dataset.fp32), int8: Number(r.dataset.int8), cells: [...r.cells].map((c) => c.textContent), source: r.querySelector('a')?.href })),
  );
  assert.deepEqual(chips.map((c) => [c.chip, c.fp32, c.int8]), [['t4', 8.1, 130], ['a100', 19.5, 624], ['h100', 67, 1979]]);
  for (const c of chips) {
    assert.deepEqual([Number(c.cells[1]), Number(c.cells[2])], [c.fp32, c.int8]);
    assert.ok(Math.abs(parseFloat(c.cells[3]) - c.int8 / c.fp32) / (c.int8 / c.fp32) < 0.01, `${c.chip}: ${c.cells[3]}`);
    assert.match(c.source, /^https:\/\/(www|resources)\.nvidia\.com\//);
  }
});

test('the walk-through: no serious accessibility violation, screenshots at 1280 and 390, nothing left 127.0.0.1', { timeout: 2 * WAIT }, async () => {
  assert.deepEqual(await seriousViolations(page), []);
  // Fresh pages at the defaults: 1280 wide in the light scheme, 390 wide (a phone) in the dark one.
  const errors = [];
  for (const [width, height, colorScheme, file] of [[1280, 800, 'light', 'screenshot-lesson.png'], [390, 844, 'dark', 'screenshot-lesson-390.png']]) {
    const fresh = await session.browser.newPage({ viewport: { width, height }, colorScheme });
    fresh.on('pageerror', (e) => errors.push(e.message));
    try {
      await fresh.goto(`${session.origin}/?view=lesson`);
      for (const id of LESSON_VIEWS.slice(0, 6)) await fresh.locator(READY[id]).waitFor({ timeout: 2 * WAIT });
      await fresh.locator('#lesson-calibration-split[data-mse]').waitFor();
      if (colorScheme === 'dark') assert.deepEqual(await seriousViolations(fresh), []); // the dark scheme's contrast too
      const overflow = await fresh.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page is ${overflow} px wider than ${width} px`);
      await fresh.screenshot({ path: path.join(ROOT, 'docs', file), fullPage: true });
    } finally {
      await fresh.close();
    }
  }
  assert.deepEqual(errors, []);
  const elsewhere = session.requests.filter((u) => !u.startsWith('data:') && !u.startsWith('blob:') && new URL(u).origin !== session.origin);
  assert.deepEqual(elsewhere, []);
  assert.deepEqual(session.pageErrors, []);
  assert.equal(await page.locator('#errors').isHidden(), true);
});

test(`every embed loads alone from dist/ under ${PREFIX}, nothing leaves 127.0.0.1, two pass axe`, { timeout: 10 * WAIT }, async () => {
  const server = await serveDistUnder(PREFIX);
  const { origin } = server;
  try {
    for (const [id, ready] of Object.entries(READY)) {
      const embed = await session.browser.newPage({ viewport: { width: 720, height: 600 } });
      const requests = [];
      const errors = [];
      embed.on('request', (r) => requests.push(r.url()));
      embed.on('pageerror', (e) => errors.push(e.message));
      try {
        const query = id === 'lesson-formula' ? `?embed=${id}&values=0.2,-0.7,1.5` : `?embed=${id}`;
        await embed.goto(`${origin}${PREFIX}${query}`);
        await embed.locator(ready).waitFor({ timeout: 2 * WAIT });
        const shown = await embed.evaluate(() => [...document.querySelectorAll('[data-view]')].filter((e) => e.checkVisibility()).map((e) => e.dataset.view));
        assert.deepEqual(shown, [id], `${id} is alone`);
        assert.equal(await embed.locator('header.top').isVisible(), false, `${id}: no header`);
        if (id === 'lesson-formula') {
          const codes = JSON.parse(await embed.locator('#lesson-formula-codes').getAttribute('data-codes'));
          assert.deepEqual(codes, cli(['lesson', 'formula', '--values', '0.2,-0.7,1.5']).codes, 'the URL\'s values');
        }
        if (id === 'lesson-formula' || id === 'lesson-calibration') {
          if (id === 'lesson-calibration') await embed.locator('#lesson-calibration-split[data-mse]').waitFor();
          assert.deepEqual(await seriousViolations(embed), [], `${id}: axe`);
        }
        for (const u of requests.filter((u) => !u.startsWith('data:') && !u.startsWith('blob:'))) {
          assert.equal(new URL(u).origin, origin, `${id}: ${u}`);
          assert.ok(new URL(u).pathname.startsWith(PREFIX), `${id}: ${u} is under ${PREFIX}`);
        }
        assert.deepEqual(errors, [], `${id}: nothing thrown`);
        assert.equal(await embed.locator('#errors').isHidden(), true, `${id}: ${await embed.locator('#errors').textContent()}`);
      } finally {
        await embed.close();
      }
    }
  } finally {
    await server.close();
  }
});

test('section 6: the PTQ models measured in the tab equal the CLI\'s', { timeout: 40 * WAIT }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'qp-lesson-ptq-'));
  try {
    // The walk-through's plans (www/worker/lesson.js PTQ_PLANS): three calibrations for the CNN, minmax for the transformer.
    for (const [key, methods] of [['textline-cls', 'minmax,entropy,percentile'], ['paraphrase-minilm', 'minmax']]) {
      const out = path.join(dir, `${key}.json`);
      execFileSync('node', [path.join(ROOT, 'scripts/ptq_table.mjs'), '--cli', CLI, '--methods', methods, '--only', key, '--json', out], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
      const want = new Map(JSON.parse(readFileSync(out, 'utf8'))[key].rows.map((r) => [r.label, r]));
      await page.locator(`#lesson-results-ptq-form button[data-model="${key}"]`).click();
      await page.locator(`#lesson-results-ptq-${key}[data-state="ready"]`).waitFor({ timeout: 20 * WAIT });
      const got = await page.$$eval(`#lesson-results-ptq-${key} tbody tr`, (trs) => trs.map((tr) => ({ ...tr.dataset })));
      assert.equal(got.length, key === 'textline-cls' ? 7 : 5, `${key}: FP32 and the planned variants`);
      for (const row of got) {
        const expected = want.get(row.variant);
        assert.ok(expected, `${key}: the CLI's table has a row '${row.variant}'`);
        assert.equal(row.accuracy, String(expected.accuracy), `${key} ${row.variant}: accuracy`);
        assert.equal(row.cosine, String(expected.cosine), `${key} ${row.variant}: cosine`);
        assert.equal(row.neighbours, String(expected.neighbour_agreement), `${key} ${row.variant}: nearest sentence = FP32`);
      }
    }
    assert.deepEqual(session.pageErrors, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
