// A definition drawn: model → layout → SVG, in a scrolling frame.
import { h } from '../dom.js';
import { buildGraph } from './model.js';
import { layoutScope } from './layout.js';
import { renderGraph } from './render.js';

export function graphView(definitionText, { onSelect, label } = {}) {
  let definition;
  try {
    definition = typeof definitionText === 'string' ? JSON.parse(definitionText) : definitionText;
  } catch (e) {
    return { element: h('p', { class: 'empty' }, `The definition is not JSON: ${e.message}`), model: null, drawn: null };
  }
  const model = buildGraph(definition);
  const layout = layoutScope(model.top);
  const drawn = renderGraph(layout, { onSelect, label });
  const frame = h('div', { class: 'graph-frame' }, drawn.svg);
  return { element: frame, model, drawn, definition };
}
