// The two DOM helpers every panel uses.

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
