// CALM in the browser: three panels, each a small, self-contained demonstration.
import './style.css';
import { mountBrierPanel } from './brier-panel.js';
import { mountCalmPanel } from './calm-panel.js';
import { mountTemperaturePanel } from './temperature-panel.js';

const panel = (id: string): HTMLElement => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el;
};
mountBrierPanel(panel('brier-panel'));
mountTemperaturePanel(panel('temperature-panel'));
mountCalmPanel(panel('calm-panel'));
