// Section 6 of the walk-through: the digits model's accuracy table (src/app/example through the worker's
// digitsExample, `quant-playground eval --json`).
import { $, element } from '../../shared/dom.js';
import * as fmt from '../../shared/format.js';
import '../../shared/lesson.css';
import template from './template.html?raw';
import './style.css';

export default {
  id: 'lesson-results',
  title: 'Results: accuracy against size',
  route: 'lesson',
  template,
  async mount(root, ctx) {
    const table = $('lesson-results-table');
    const status = $('lesson-results-status');
    try {
      const report = await ctx.run('digitsExample');
      table.tBodies[0].replaceChildren(
        ...report.rows.map((r) =>
          element('tr', { dataset: { config: r.config, accuracy: String(r.accuracy) } }, [
            element('th', { scope: 'row', text: r.config }),
            element('td', { text: `${(100 * r.accuracy).toFixed(2)}%` }),
            element('td', { text: r.drop_points.toFixed(2) }),
            element('td', { text: fmt.bytes(r.size_bytes) }),
            element('td', { text: `${r.compression.toFixed(2)}×` }),
            element('td', { text: fmt.milliseconds(r.ms) }),
          ]),
        ),
      );
      table.dataset.state = 'ready';
      status.textContent = `${report.test_rows} test digits, kernels: ${report.kernel_build}.`;
    } catch (error) {
      status.textContent = 'The table could not be computed.';
      ctx.setError('lesson-results', `Results: ${error.message}`);
    }
  },
  update() {},
};
