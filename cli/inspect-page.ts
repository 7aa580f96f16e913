/**
 * The inspector's page: one column per node, one card per statechart, every state drawn as a
 * nested box with the active ones highlighted; updated live from `/events`.
 */
export const INSPECTOR_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tenure inspector — %CLUSTER%</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 1rem; background: #f6f7f9; color: #222; }
  h1 { font-size: 1.2rem; }
  #nodes { display: flex; gap: 1rem; align-items: flex-start; flex-wrap: wrap; }
  .node { background: #fff; border: 1px solid #ccd; border-radius: 6px; padding: .5rem .75rem; min-width: 16rem; }
  .node h2 { font-size: 1rem; margin: .25rem 0 .5rem; }
  .machine { border-top: 1px solid #eee; padding: .4rem 0; }
  .machine h3 { font-size: .85rem; margin: 0 0 .25rem; font-weight: 600; }
  .state { border: 1px solid #bbb; border-radius: 4px; padding: 2px 6px; margin: 2px 0 2px 10px; color: #666; }
  .state.active { border-color: #0a7; background: #e6fff4; color: #064; font-weight: 600; }
  .age { color: #999; font-size: .75rem; }
</style>
</head>
<body>
<h1>Tenure cluster <code>%CLUSTER%</code> — live statecharts</h1>
<div id="nodes"><p id="waiting">Waiting for nodes… (start them with TENURE_INSPECT=1, or <code>npm start -- --inspect</code>)</p></div>
<script>
const nodes = {};
function isActive(value, path) {
  let v = value;
  for (const p of path) {
    if (typeof v === 'string') return v === p && path[path.length - 1] === p;
    if (!v || !(p in v)) return false;
    v = v[p];
  }
  return true;
}
function drawTree(tree, value, path) {
  const frag = document.createDocumentFragment();
  for (const name of Object.keys(tree)) {
    const p = path.concat(name);
    const div = document.createElement('div');
    div.className = 'state' + (isActive(value, p) ? ' active' : '');
    div.dataset.state = p.join('.');
    div.textContent = name;
    div.appendChild(drawTree(tree[name], value, p));
    frag.appendChild(div);
  }
  return frag;
}
function render() {
  const root = document.getElementById('nodes');
  root.textContent = '';
  for (const id of Object.keys(nodes).sort()) {
    const n = nodes[id];
    const card = document.createElement('div');
    card.className = 'node';
    card.dataset.node = id;
    const h = document.createElement('h2');
    h.textContent = id;
    card.appendChild(h);
    for (const m of Object.values(n.machines).sort((a, b) => a.machine.localeCompare(b.machine))) {
      const box = document.createElement('div');
      box.className = 'machine';
      box.dataset.machine = m.machine;
      const t = document.createElement('h3');
      t.textContent = m.machine + ' — ' + JSON.stringify(m.value);
      box.appendChild(t);
      box.appendChild(drawTree(m.tree, m.value, []));
      card.appendChild(box);
    }
    const age = document.createElement('div');
    age.className = 'age';
    age.textContent = 'updated ' + new Date(n.at).toLocaleTimeString();
    card.appendChild(age);
    root.appendChild(card);
  }
}
const es = new EventSource('/events');
es.onmessage = (ev) => {
  const r = JSON.parse(ev.data);
  const n = nodes[r.node] || (nodes[r.node] = { machines: {}, at: 0 });
  n.at = r.at;
  for (const m of r.machines) n.machines[m.machine] = m;
  render();
};
</script>
</body>
</html>
`;
