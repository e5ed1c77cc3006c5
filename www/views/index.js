// The views of the page, in the order they are mounted. Adding a view: its folder and one line here.
import activations from './activations/index.js';
import calibration from './calibration/index.js';
import comparison from './comparison/index.js';
import digits from './digits/index.js';
import exporter from './export/index.js';
import model from './model/index.js';
import outputs from './outputs/index.js';
import ptq from './ptq/index.js';
import speed from './speed/index.js';

export default [digits, activations, comparison, calibration, speed, outputs, exporter, model, ptq];
