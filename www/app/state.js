// The page's state: the open files, the chosen tensor, the tensors ticked for the whole model, and the
// settings every view reads. Each change tells the listeners what changed ('files', 'selection', 'ticks',
// 'settings'); the shell then renders the tensor list, writes the URL and updates the views.

/**
 * `settings`: { spec, label, method, added: [{ label, spec }] (spec null for a format that is no integer spec), errorConfig, log } (see www/views/README.md).
 */
export function createState(settings) {
  const listeners = [];
  const changed = (what) => {
    for (const listener of listeners) listener(what);
  };
  const state = {
    files: [], // [{ id, name, size, lastModified, members, index }]
    selected: null, // { fileId, tensor }
    ticked: new Set(), // `${fileId}:${tensor}`
    settings,

    onChange(listener) {
      listeners.push(listener);
    },

    /** The chosen tensor as the views get it: { file, info, tensor }, or null. */
    selection() {
      const file = state.files.find((f) => f.id === state.selected?.fileId);
      const info = file?.index.tensors.find((t) => t.name === state.selected.tensor);
      return info ? { file, info, tensor: info.name } : null;
    },

    select(fileId, tensor) {
      state.selected = { fileId, tensor };
      changed('selection');
    },

    setSettings(patch) {
      state.settings = { ...state.settings, ...patch };
      changed('settings');
    },

    tick(fileId, tensor, on) {
      const key = `${fileId}:${tensor}`;
      if (on) state.ticked.add(key);
      else state.ticked.delete(key);
      changed('ticks');
    },

    addFile(entry) {
      state.files.push(entry);
      changed('files');
    },

    /** Closes a file: its ticks go, and the selection when it was one of its tensors. */
    removeFile(id) {
      state.files = state.files.filter((f) => f.id !== id);
      for (const key of [...state.ticked]) if (key.startsWith(`${id}:`)) state.ticked.delete(key);
      if (state.selected?.fileId === id) state.selected = null;
      changed('files');
    },
  };
  return state;
}
