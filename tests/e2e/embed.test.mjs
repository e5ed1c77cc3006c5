// One view alone (?embed=NAME, for a course page): only that view is on the page, without the header, the
// tensor browser and the footer, and it works on the embedded example as on the whole page; an unknown
// name says which views there are.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startSession } from './lib.mjs';

let session;

after(async () => {
  await session?.close();
});

test('?embed=calibration shows the calibration view alone, computed on the example', { timeout: 3 * 60_000 }, async () => {
  session = await startSession({ query: '?embed=calibration&bits=4&scheme=asym' });
  const { page } = session;
  await page.waitForFunction(() => {
    const table = document.getElementById('calibration-table');
    return table?.dataset.state === 'ready' && table.dataset.tensor === 'fc2.weight' && table.dataset.bits === '4' && table.dataset.scheme === 'asymmetric';
  });
  const shown = await page.evaluate(() => [...document.querySelectorAll('[data-view]')].filter((e) => e.checkVisibility()).map((e) => e.dataset.view));
  assert.deepEqual(shown, ['calibration']);
  for (const chrome of ['header.top', '.files', 'footer.bottom', '#comparison', '#speed-run']) {
    assert.equal(await page.locator(chrome).isVisible(), false, `${chrome} is hidden`);
  }
  assert.equal(await page.title(), 'Calibration');
  assert.equal(await page.locator('#calibration-table tbody tr').count(), 5);
  assert.match(new URL(page.url()).search, /embed=calibration/); // the URL keeps it as the state changes

  const other = await session.browser.newPage();
  try {
    await other.goto(`${session.origin}/?embed=nothing`);
    await other.locator('#errors li').first().waitFor();
    assert.match(await other.locator('#errors').textContent(), /\?embed=nothing: no such view \(there are digits, activations, comparison, calibration, speed, outputs, export, model, theirs, lesson-types, lesson-formula, lesson-schemes, lesson-granularity, lesson-calibration, lesson-results, lesson-hardware, ptq\)/);
  } finally {
    await other.close();
  }
  assert.deepEqual(session.pageErrors, []);
});
