// Draws a layout (layout.js) as SVG: each state a group with its name as text, so a
// browser's find and a screen reader see the names; a state is a button (click, Enter).
import { s } from '../dom.js';
import { START, END, describeType, retryText } from './model.js';

export function renderGraph(layout, { onSelect, label } = {}) {
  const byName = new Map();
  const svg = s('svg', {
    class: 'graph', width: layout.width, height: layout.height,
    viewBox: `0 0 ${layout.width} ${layout.height}`, role: 'group', 'aria-label': label || 'State machine graph',
  });
  svg.append(s('defs', {},
    marker('cairn-arrow', 'arrow'), marker('cairn-arrow-catch', 'arrow arrow-catch')));
  svg.append(drawScope(layout, byName, onSelect));
  const select = (name) => {
    for (const [n, el] of byName) el.classList.toggle('selected', n === name);
  };
  return { svg, nodes: byName, select };
}

function marker(id, cls) {
  return s('marker', { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    s('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: cls }));
}

function drawScope(layout, byName, onSelect) {
  const group = s('g', { class: 'scope-content' });
  const edges = s('g', { class: 'edges' });
  for (const { edge, points, label } of layout.edges) {
    if (!points.length) continue;
    const d = points.map((p, i) => `${i ? 'L' : 'M'} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' ');
    const catching = edge.kind === 'catch';
    edges.append(s('path', { class: `edge edge-${edge.kind}`, d, 'marker-end': `url(#${catching ? 'cairn-arrow-catch' : 'cairn-arrow'})`,
      'data-from': edge.from, 'data-to': edge.to }));
    if (label) {
      edges.append(s('g', { class: `edge-label edge-label-${edge.kind}`, transform: `translate(${label.x.toFixed(1)} ${label.y.toFixed(1)})` },
        s('title', {}, edge.title || edge.label),
        s('rect', { width: label.w, height: label.h, rx: 3 }),
        s('text', { x: label.w / 2, y: label.h / 2 + 4, 'text-anchor': 'middle' }, edge.label)));
    }
  }
  group.append(edges);
  const nodes = s('g', { class: 'nodes' });
  for (const placed of layout.nodes) nodes.append(drawNode(placed, byName, onSelect));
  group.append(nodes);
  return group;
}

function drawNode({ node, x, y, w, h, inner }, byName, onSelect) {
  const terminal = node.id === START || node.id === END;
  const type = describeType(node);
  const g = s('g', {
    class: `state type-${node.type.toLowerCase()}${inner ? ' container' : ''}${terminal ? ' terminal' : ''}`,
    transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})`,
    'data-state': terminal ? undefined : node.id,
    'data-terminal': terminal ? node.id : undefined,
  });
  const title = s('title', {}, terminal ? node.label : [node.label, type, retryText(node.retry || [])].filter(Boolean).join('\n'));
  g.append(title);
  g.append(s('rect', { class: 'box', width: w, height: h, rx: terminal ? h / 2 : 6 }));
  const status = s('text', { class: 'status-text', 'text-anchor': inner ? 'end' : 'middle', x: inner ? w - 12 : w / 2, y: inner ? 20 : 48 });
  if (terminal) {
    g.append(s('text', { class: 'name', x: w / 2, y: h / 2 + 4, 'text-anchor': 'middle' }, node.label));
  } else if (inner) {
    g.append(s('text', { class: 'name', x: 12, y: 20 }, node.label));
    g.append(s('text', { class: 'type', x: 12, y: 35 }, type));
    g.append(status);
    for (const scope of inner) {
      const sg = s('g', { class: 'scope', transform: `translate(${scope.x.toFixed(1)} ${scope.y.toFixed(1)})` },
        s('rect', { class: 'scope-box', width: scope.w, height: scope.h, rx: 4 }));
      const content = drawScope(scope.layout, byName, onSelect);
      content.setAttribute('transform', `translate(${10 + (scope.w - 20 - scope.layout.width) / 2} 10)`);
      sg.append(content);
      g.append(sg);
    }
  } else {
    g.append(s('text', { class: 'name', x: w / 2, y: 20, 'text-anchor': 'middle' }, node.label));
    g.append(s('text', { class: 'type', x: w / 2, y: 34, 'text-anchor': 'middle' }, type));
    g.append(status);
  }
  if (!terminal) {
    g.setAttribute('tabindex', '0');
    g.setAttribute('role', 'button');
    g.setAttribute('aria-label', `${node.label}, ${node.type}`);
    const choose = (event) => {
      event.stopPropagation();
      if (onSelect) onSelect(node.id);
    };
    g.addEventListener('click', choose);
    g.addEventListener('keydown', (event) => {
      if (event.target === g && (event.key === 'Enter' || event.key === ' ')) {
        event.preventDefault();
        choose(event);
      }
    });
  }
  byName.set(node.id, { group: g, status, title, node, classList: g.classList });
  return g;
}

/** Colours each state by what happened to it: `analysis` maps a name to {status, text}. */
export function paint(graph, analysis) {
  for (const [name, el] of graph.nodes) {
    const a = analysis.get(name);
    for (const c of [...el.group.classList]) if (c.startsWith('status-')) el.group.classList.remove(c);
    const status = a ? a.status : 'not-reached';
    el.group.classList.add(`status-${status}`);
    el.group.dataset.status = status;
    const text = a ? a.text : 'not reached';
    el.status.textContent = text;
    if (el.node.id !== START && el.node.id !== END) {
      el.group.setAttribute('aria-label', `${el.node.label}, ${el.node.type}, ${text}`);
    }
  }
}
