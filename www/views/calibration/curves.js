// The curves the searching calibration methods minimised (threshold → KL divergence, threshold → expected
// MSE), drawn by uPlot with the chosen thresholds marked.
import * as charts from '../../shared/charts.js';
import * as fmt from '../../shared/format.js';

/** The searched curves of one metric ("kl" or "mse") from the report's details, coloured in order. */
export function curvesOf(report, metric, { methodName, colors }) {
  return report.details.results
    .filter((r) => r.curve?.metric === metric && r.curve.thresholds.length)
    .map((r, i) => ({
      method: r.method,
      label: methodName(r.method),
      short: r.method === 'entropy:trt' ? 'TRT' : r.method === 'entropy' ? 'ORT' : '',
      thresholds: r.curve.thresholds,
      values: r.curve.values,
      best: r.curve.best,
      range: r.range,
      color: colors[i % colors.length],
    }));
}

/** One legend sentence per curve: what was searched and what was chosen. */
export function describeCurves(list, what) {
  return list.map((c) => {
    const lo = fmt.scientific(c.thresholds[0]);
    const hi = fmt.scientific(c.thresholds[c.thresholds.length - 1]);
    const gaps = c.values.filter((v) => v === null).length;
    const chosen = c.best === null || c.best === undefined
      ? 'chose none'
      : `chose ${fmt.scientific(c.thresholds[c.best])} (${what} ${fmt.scientific(c.values[c.best])})`;
    return `${c.label}: ${fmt.count(c.thresholds.length)} thresholds from ${lo} to ${hi}, ${chosen}${gaps ? `; ${fmt.count(gaps)} with no finite ${what} are left out` : ''}.`;
  }).join(' ');
}

/** Draws the KL and MSE pictures, or says why there is nothing to draw. */
export function renderCurves({ klChart, klLegend, mseChart, mseLegend }, report, { methodName }) {
  const css = getComputedStyle(document.documentElement);
  const colors = ['--c1', '--c2', '--c3'].map((v) => css.getPropertyValue(v).trim());
  const kl = curvesOf(report, 'kl', { methodName, colors });
  const mse = curvesOf(report, 'mse', { methodName, colors: [css.getPropertyValue('--c3').trim()] });
  for (const [chart, legend, list, what, yLabel] of [[klChart, klLegend, kl, 'KL', 'KL divergence (log)'], [mseChart, mseLegend, mse, 'expected MSE', 'expected MSE (log)']]) {
    if (!list.length) {
      charts.clear(chart);
      chart.dataset.curves = '[]';
      legend.textContent = 'Nothing was searched: the tensor has no spread of finite values.';
      continue;
    }
    charts.curves(chart, list, { xLabel: 'threshold t (the range clipped to ±t)', yLabel });
    legend.textContent = describeCurves(list, what);
  }
}
