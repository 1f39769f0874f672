// A tiny non-cryptographic string hash (FNV-1a, 32 bit) used to fingerprint tokenizers and
// sources inside cursors, so a cursor is never restored against different data.

/** FNV-1a over the UTF-16 code units of `text`, as 8 hex digits. */
export function fnv1a(text: string, seed = 0x811c9dc5): string {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}
