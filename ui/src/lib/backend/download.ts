//! The browser's way to save a text file: a Blob and a `download` link (the desktop's webview
//! does not save those; its backend asks the shell instead).

export function mimeOf(name: string): string {
  if (/\.csv$/i.test(name)) return 'text/csv;charset=utf-8';
  if (/\.json$/i.test(name)) return 'application/json;charset=utf-8';
  if (/\.html?$/i.test(name)) return 'text/html;charset=utf-8';
  return 'text/plain;charset=utf-8';
}

/** Starts the download of `text` as `name`; returns the name (the browser keeps the path). */
export function downloadText(name: string, text: string): string {
  const url = URL.createObjectURL(new Blob([text], { type: mimeOf(name) }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.style.display = 'none';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return name;
}
