// Places the graph of model.js with dagre, a layered (Sugiyama) layout: each scope is
// laid out on its own, innermost first, so a Parallel or Map is a node of its parent's
// layout as large as what it holds. dagre keeps the nodes of one layout apart and makes
// room for edge labels; a container's inner scopes sit side by side inside its padding,
// so no two boxes overlap at any depth.
import { Graph, layout as dagreLayout } from '@dagrejs/dagre';
import { START, END, describeType } from './model.js';

export const FONT_FAMILY = 'system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif';
export const NAME_FONT = `600 13px ${FONT_FAMILY}`;
export const SMALL_FONT = `11px ${FONT_FAMILY}`;

const PAD_X = 14;
const NODE_H = 58;
const NODE_MIN_W = 150;
// Room on a node's third line for the longest status the execution view writes.
const STATUS_ROOM = 'caught · retried 99 times';
const MAP_STATUS_ROOM = 'succeeded · 9999 iterations: 9999 ok, 999 failed';
const TERMINAL = { w: 76, h: 30 };
const HEADER_H = 44;
const INNER_PAD = 14;
const SCOPE_PAD = 10;
const LABEL_H = 18;

let context;
/** Text width in pixels, from the same fonts the stylesheet draws with. */
export function measure(text, font) {
  if (!context) context = document.createElement('canvas').getContext('2d');
  context.font = font;
  return Math.ceil(context.measureText(text).width);
}

/** {width, height, nodes: [{node, x, y, w, h, inner: [{x, y, w, h, layout}]}], edges: [{edge, points, label}]} */
export function layoutScope(scope, opts = {}) {
  const sized = scope.nodes.map((node) => size(node, opts));
  const g = new Graph({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 36, ranksep: 46, edgesep: 18, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const s of sized) g.setNode(s.node.id, { width: s.w, height: s.h });
  scope.edges.forEach((edge, i) => {
    const label = edge.label ? { width: measure(edge.label, SMALL_FONT) + 12, height: LABEL_H, labelpos: 'c' } : {};
    g.setEdge(edge.from, edge.to, { ...label, minlen: 1 }, `e${i}`);
  });
  dagreLayout(g);
  const nodes = sized.map((s) => {
    const placed = g.node(s.node.id);
    return { ...s, x: placed.x - s.w / 2, y: placed.y - s.h / 2 };
  });
  const edges = scope.edges.map((edge, i) => {
    const placed = g.edge({ v: edge.from, w: edge.to, name: `e${i}` });
    const label = edge.label && placed.width
      ? { x: placed.x - placed.width / 2, y: placed.y - placed.height / 2, w: placed.width, h: placed.height }
      : null;
    return { edge, points: placed.points || [], label };
  });
  const graph = g.graph();
  return { width: Math.ceil(graph.width || 0), height: Math.ceil(graph.height || 0), nodes, edges };
}

function size(node, opts) {
  if (node.id === START || node.id === END) return { node, ...TERMINAL };
  const text = Math.max(measure(node.label, NAME_FONT), measure(describeType(node), SMALL_FONT),
    measure(STATUS_ROOM, SMALL_FONT));
  if (!node.scopes) return { node, w: Math.max(NODE_MIN_W, text + 2 * PAD_X), h: NODE_H };
  const inner = [];
  let x = INNER_PAD;
  let tallest = 0;
  for (const child of node.scopes) {
    const layout = layoutScope(child, opts);
    const w = Math.max(layout.width, 60) + 2 * SCOPE_PAD;
    const h = Math.max(layout.height, 30) + 2 * SCOPE_PAD;
    inner.push({ x, y: HEADER_H + INNER_PAD, w, h, layout });
    x += w + INNER_PAD;
    tallest = Math.max(tallest, h);
  }
  // The header holds the name and type on the left and the status on the right.
  const header = Math.max(measure(node.label, NAME_FONT), measure(describeType(node), SMALL_FONT)) +
    measure(node.type === 'Map' ? MAP_STATUS_ROOM : STATUS_ROOM, SMALL_FONT) + 3 * PAD_X;
  const w = Math.max(x, header, NODE_MIN_W + 2 * INNER_PAD);
  // Centre the inner scopes when the header is the wider part.
  const shift = (w - x) / 2;
  for (const i of inner) i.x += shift;
  return { node, w, h: HEADER_H + 2 * INNER_PAD + Math.max(tallest, 0), inner };
}
