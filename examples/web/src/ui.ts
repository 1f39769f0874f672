// Tiny DOM helpers shared by the panels: element creation, labelled inputs, and a status line that
// shows progress and errors on the page (the app never relies on the console).

/** Creates an element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  el.append(...children);
  return el;
}

/** A label wrapping a control, with the control returned for reading. */
export function field<T extends HTMLElement>(
  label: string,
  control: T,
  hint?: string,
): { row: HTMLElement; control: T } {
  const row = h('label', { class: 'field' }, h('span', { class: 'label' }, label), control);
  if (hint) row.append(h('span', { class: 'hint' }, hint));
  return { row, control };
}

/** A status line: `info` for progress, `ok` for results, `error` for failures (with the message). */
export interface Status {
  readonly el: HTMLElement;
  set(kind: 'info' | 'ok' | 'error', text: string): void;
}

export function statusLine(testId: string): Status {
  const el = h('p', { class: 'status', 'data-testid': testId, 'data-state': 'idle' });
  return {
    el,
    set(kind, text) {
      el.dataset['state'] = kind;
      el.textContent = text;
    },
  };
}

/** The message of anything thrown, CalmError codes included. */
export function errorText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}

/** Reads a number input, with bounds; throws a readable error for the status line. */
export function numberOf(input: HTMLInputElement, name: string, min: number, max: number, integer = false): number {
  const v = Number(input.value);
  if (!Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)))
    throw new Error(
      `${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got "${input.value}".`,
    );
  return v;
}

/** Lets the browser paint before a long synchronous step. */
export const nextFrame = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/** Formats x ± se with `digits` decimals. */
export const pm = (x: number, se: number, digits = 4): string =>
  `${x.toFixed(digits)} ± ${Number.isFinite(se) ? se.toFixed(digits) : 'n/a'}`;
