// The DOM helpers the panels share.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** A new element: `props.text` sets its text, `props.dataset` its data attributes, the rest are attributes. */
export function element(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

/**
 * The whole number typed in `input` if it is one in [min, max] (digits only: a seed must round-trip
 * exactly), else null; the input is marked aria-invalid accordingly.
 */
export function readWholeNumber(input, min, max) {
  const text = input.value.trim();
  const v = Number(text);
  const ok = /^\d+$/.test(text) && Number.isSafeInteger(v) && v >= min && v <= max;
  input.setAttribute('aria-invalid', String(!ok));
  return ok ? v : null;
}

/** Shows `seed` (a promise of the core's getrandom) in `input` unless one was typed, then calls `then`. */
export function showSeed(input, seed, then) {
  seed.then((value) => {
    if (!input.value) input.value = String(value);
    then();
  });
}

/**
 * One run of `work()` at a time: a call while one runs asks for one more run after it, with the state of
 * then (calls meanwhile coalesce). Every call's promise settles when the run that covers it is done.
 */
export function latestOnly(work) {
  let running = null;
  let again = false;
  return function trigger() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await work();
        } while (again);
      } finally {
        running = null;
      }
    })();
    return running;
  };
}
