// The views of the page, in the order they are mounted. Adding a view: its folder and one line here.
import activations from './activations/index.js';
import calibration from './calibration/index.js';
import comparison from './comparison/index.js';
import digits from './digits/index.js';
import exporter from './export/index.js';
import lessonCalibration from './lesson-calibration/index.js';
import lessonFormula from './lesson-formula/index.js';
import lessonGranularity from './lesson-granularity/index.js';
import lessonHardware from './lesson-hardware/index.js';
import lessonResults from './lesson-results/index.js';
import lessonSchemes from './lesson-schemes/index.js';
import lessonTypes from './lesson-types/index.js';
import model from './model/index.js';
import outputs from './outputs/index.js';
import ptq from './ptq/index.js';
import speed from './speed/index.js';
import theirs from './theirs/index.js';

// The walk-through (?view=lesson): one view per section of the lecture, each also alone with ?embed=ID.
const lesson = [lessonTypes, lessonFormula, lessonSchemes, lessonGranularity, lessonCalibration, lessonResults, lessonHardware];

export default [digits, activations, comparison, calibration, speed, outputs, exporter, model, theirs, ...lesson, ptq];
