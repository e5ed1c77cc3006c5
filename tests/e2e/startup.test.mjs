// A file opened while the page is still starting (before the embedded example has opened) keeps the
// selection: the example is listed beside it but does not take the chosen tensor away.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import path from 'node:path';
import { ROOT, startSession } from './lib.mjs';

let session;

after(async () => {
  await session?.close();
});

test('a file opened during start-up keeps the selection when the example opens after it', async () => {
  session = await startSession();
  const { page } = session;
  // Right after the page's load event: the worker is still starting, the example not yet open.
  await page.setInputFiles('#file-input', path.join(ROOT, 'tests/fixtures/formats/w_align64.gguf'));
  await page.locator('#tensors tbody[data-file="w_align64.gguf"]').waitFor();
  await page.locator('#tensors tbody[data-file="example-seed-42.safetensors"]').waitFor();
  await page.locator('#tensors tbody[data-file="digits-mlp.safetensors"]').waitFor();
  assert.ok(await page.locator('#tensors tr[data-file="w_align64.gguf"][data-tensor="w_Q8_0"] input[type="radio"]').isChecked(), 'the chosen tensor is still chosen');
  assert.equal(await page.locator('#tensors input[name="tensor"]:checked').count(), 1);
  assert.match(await page.locator('#export-tensor').textContent(), /w_Q8_0/);
  assert.deepEqual(session.pageErrors, []);
});
