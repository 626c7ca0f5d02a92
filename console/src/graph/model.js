// An ASL definition as the graph the console draws: one node per state, Parallel and Map
// as containers holding their branches' and item processor's own graphs, and edges for
// Next, each Choice rule, a Choice's Default and each Catch. Retry is not an edge: it is
// shown on its state. Pure: no DOM.

export const START = '(start)';
export const END = '(end)';

/**
 * The top scope of `definition`: {nodes, edges}, with a Start and an End node.
 * Each node: {id, type, state, label, scopes (containers), retry, catches}.
 * Also returns `parents` (state name → containing state name) and `types`.
 */
export function buildGraph(definition) {
  const parents = new Map();
  const types = new Map();
  const top = scope(definition, { top: true, parent: null, parents, types });
  return { top, parents, types };
}

function scope(def, ctx) {
  const states = (def && typeof def.States === 'object' && def.States) || {};
  const names = Object.keys(states);
  const nodes = [];
  const edges = [];
  const has = (name) => typeof name === 'string' && Object.prototype.hasOwnProperty.call(states, name);
  if (ctx.top) nodes.push({ id: START, type: 'Start', label: 'Start' });
  for (const name of names) {
    const state = states[name] || {};
    const type = typeof state.Type === 'string' ? state.Type : 'Unknown';
    ctx.types.set(name, type);
    if (ctx.parent) ctx.parents.set(name, ctx.parent);
    const node = { id: name, type, state, label: name, retry: Array.isArray(state.Retry) ? state.Retry : [] };
    if (type === 'Parallel') {
      const branches = Array.isArray(state.Branches) ? state.Branches : [];
      node.scopes = branches.map((b) => scope(b, { ...ctx, top: false, parent: name }));
    } else if (type === 'Map') {
      const processor = state.ItemProcessor || state.Iterator || {};
      node.scopes = [scope(processor, { ...ctx, top: false, parent: name })];
      const mode = processor.ProcessorConfig && processor.ProcessorConfig.Mode;
      node.distributed = mode === 'DISTRIBUTED';
    }
    nodes.push(node);
    if (type === 'Choice') {
      const rules = Array.isArray(state.Choices) ? state.Choices : [];
      rules.forEach((rule, i) => {
        if (has(rule && rule.Next)) {
          edges.push({ from: name, to: rule.Next, kind: 'choice', label: ruleLabel(rule, i), title: ruleText(rule) });
        }
      });
      if (has(state.Default)) edges.push({ from: name, to: state.Default, kind: 'default', label: 'Default' });
    } else if (has(state.Next)) {
      edges.push({ from: name, to: state.Next, kind: 'next' });
    }
    for (const c of Array.isArray(state.Catch) ? state.Catch : []) {
      if (has(c && c.Next)) {
        const errors = Array.isArray(c.ErrorEquals) ? c.ErrorEquals.join(', ') : '';
        edges.push({ from: name, to: c.Next, kind: 'catch', label: clip(`Catch: ${errors}`, 34), title: `Catch ${errors}` });
      }
    }
    const ends = state.End === true || type === 'Succeed' || type === 'Fail';
    if (ctx.top && ends) edges.push({ from: name, to: END, kind: type === 'Fail' ? 'fail' : 'next' });
  }
  if (ctx.top) {
    nodes.push({ id: END, type: 'End', label: 'End' });
    if (has(def && def.StartAt)) edges.unshift({ from: START, to: def.StartAt, kind: 'next' });
  }
  return { nodes, edges, startAt: def && def.StartAt };
}

function clip(text, max) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A rule's short label on its edge: its Comment, or the condition itself. */
function ruleLabel(rule, i) {
  const text = rule.Comment || ruleText(rule) || `Rule #${i + 1}`;
  return clip(text, 34);
}

const OPERATORS = [
  ['StringEquals', '=='], ['NumericEquals', '=='], ['BooleanEquals', '=='], ['TimestampEquals', '=='],
  ['StringLessThanEquals', '<='], ['NumericLessThanEquals', '<='], ['TimestampLessThanEquals', '<='],
  ['StringGreaterThanEquals', '>='], ['NumericGreaterThanEquals', '>='], ['TimestampGreaterThanEquals', '>='],
  ['StringLessThan', '<'], ['NumericLessThan', '<'], ['TimestampLessThan', '<'],
  ['StringGreaterThan', '>'], ['NumericGreaterThan', '>'], ['TimestampGreaterThan', '>'],
  ['StringMatches', 'matches'], ['IsNull', 'is null:'], ['IsPresent', 'is present:'],
  ['IsString', 'is string:'], ['IsNumeric', 'is numeric:'], ['IsBoolean', 'is boolean:'],
  ['IsTimestamp', 'is timestamp:'],
];

/** A Choice rule written out: `$.approved == true`, `not (…)`, `(…) and (…)`. */
export function ruleText(rule) {
  if (!rule || typeof rule !== 'object') return '';
  if (typeof rule.Condition === 'string') return rule.Condition;
  if (Array.isArray(rule.And)) return rule.And.map((r) => `(${ruleText(r)})`).join(' and ');
  if (Array.isArray(rule.Or)) return rule.Or.map((r) => `(${ruleText(r)})`).join(' or ');
  if (rule.Not) return `not (${ruleText(rule.Not)})`;
  for (const [key, op] of OPERATORS) {
    for (const [k, pathValue] of [[key, false], [`${key}Path`, true]]) {
      if (k in rule) {
        const value = pathValue ? rule[k] : JSON.stringify(rule[k]);
        return `${rule.Variable || '?'} ${op} ${value}`;
      }
    }
  }
  return rule.Variable ? String(rule.Variable) : '';
}

/** What a state's second line says: its type, and what it retries. */
export function describeType(node) {
  if (node.type === 'Start' || node.type === 'End') return '';
  let text = node.type;
  if (node.type === 'Map') text = node.distributed ? 'Map (distributed)' : 'Map';
  if (node.retry && node.retry.length) {
    const attempts = node.retry.reduce((n, r) => n + (Number.isInteger(r.MaxAttempts) ? r.MaxAttempts : 3), 0);
    text += ` · Retry ≤${attempts}`;
  }
  return text;
}

/** A Retry's description for the state's tooltip and details. */
export function retryText(retry) {
  return retry.map((r) => {
    const errors = Array.isArray(r.ErrorEquals) ? r.ErrorEquals.join(', ') : '';
    const attempts = Number.isInteger(r.MaxAttempts) ? r.MaxAttempts : 3;
    const interval = r.IntervalSeconds ?? 1;
    const rate = r.BackoffRate ?? 2;
    return `Retry ${errors}: up to ${attempts} times, ${interval} s apart, ×${rate}`;
  }).join('\n');
}
