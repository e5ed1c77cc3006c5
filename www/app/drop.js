// Files reach the shell three ways: the file input, a drop anywhere on the page (an overlay says where
// they go while they are dragged), and "/" jumps to the tensor filter, as on many sites (Escape leaves it).

/** `onFiles(files)` hears every choice and drop; `filter` is the tensor filter's input. */
export function listenForFiles({ input, overlay, filter, onFiles }) {
  input.addEventListener('change', () => {
    const files = [...input.files];
    input.value = ''; // so that choosing the same file again is a change too
    if (files.length) onFiles(files);
  });

  const carriesFiles = (event) => event.dataTransfer?.types?.includes('Files');
  let dragDepth = 0;
  window.addEventListener('dragenter', (event) => {
    if (!carriesFiles(event)) return;
    dragDepth += 1;
    overlay.hidden = false;
  });
  window.addEventListener('dragleave', (event) => {
    if (!carriesFiles(event)) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) overlay.hidden = true;
  });
  window.addEventListener('dragover', (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  });
  window.addEventListener('drop', (event) => {
    event.preventDefault(); // never let the browser navigate to the dropped file
    dragDepth = 0;
    overlay.hidden = true;
    const files = [...(event.dataTransfer?.files ?? [])];
    if (files.length) onFiles(files);
  });

  window.addEventListener('keydown', (event) => {
    const typing = event.target.closest?.('input, select, textarea');
    if (event.key === '/' && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      filter.focus();
    } else if (event.key === 'Escape' && event.target === filter) {
      filter.value = '';
      filter.dispatchEvent(new Event('input'));
      filter.blur();
    }
  });
}
